package dev.jepd.tensor.torch;

import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorScope;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * Owns the libtorch handles of the tensors made while it is current; closing it drops them (libtorch frees
 * the memory when no view of it is left). A root scope (no parent) is the backend's own.
 */
final class TorchScope implements TensorScope {
    private final TorchBackend backend;
    private final TorchScope parent;
    private final Set<TorchTensor> owned = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean closed;

    TorchScope(TorchBackend backend, TorchScope parent) {
        this.backend = backend;
        this.parent = parent;
    }

    /** Takes ownership of a fresh tensor. */
    void adopt(TorchTensor t) {
        if (closed) {
            throw new IllegalStateException("tensor made in a closed TensorScope");
        }
        owned.add(t);
        t.owner = this;
    }

    @Override
    public <T extends Tensor> T keep(T t) {
        return moveTo(parent == null ? backend.root() : parent, t);
    }

    @Override
    public <T extends Tensor> T moveTo(TensorScope target, T t) {
        TorchTensor tt = (TorchTensor) t;
        TorchScope to = (TorchScope) target;
        if (tt.owner != null) {
            tt.owner.owned.remove(tt);
        }
        to.adopt(tt);
        return t;
    }

    @Override
    public TensorScope detach() {
        backend.pop(this);
        return this;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        backend.pop(this);
        for (TorchTensor t : owned) {
            t.free();
        }
        owned.clear();
    }
}
