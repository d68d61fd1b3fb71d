package dev.jepd.tensor.torch;

import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Owns the libtorch handles of the tensors made through its {@link TorchOps}; closing it drops them (libtorch
 * frees the memory when no view of it is left) and closes its open children first. A root scope has no parent.
 */
final class TorchScope implements Scope {
    private final TorchScope parent;
    private final Set<TorchTensor> owned = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Set<TorchScope> children = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    TorchScope(TorchScope parent) {
        this.parent = parent;
    }

    boolean isClosed() {
        return closed;
    }

    /** Takes ownership of a fresh tensor. */
    synchronized void adopt(TorchTensor t) {
        if (closed) {
            throw new IllegalStateException("tensor made in a closed scope");
        }
        owned.add(t);
        t.owner = this;
    }

    private synchronized void release(TorchTensor t) {
        owned.remove(t);
    }

    @Override
    public Scope child() {
        if (closed) {
            throw new IllegalStateException("child of a closed scope");
        }
        TorchScope c = new TorchScope(this);
        children.add(c);
        return c;
    }

    @Override
    public <T extends Tensor> T keep(T t) {
        if (parent == null) {
            throw new IllegalStateException("keep in a root scope: it has no parent to hand the tensor to");
        }
        return moveTo(parent, t);
    }

    @Override
    public <T extends Tensor> T moveTo(Scope target, T t) {
        TorchTensor tt = (TorchTensor) t;
        TorchScope to = (TorchScope) target;
        if (tt.owner != null) {
            tt.owner.release(tt);
        }
        to.adopt(tt);
        return t;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List.copyOf(children).forEach(TorchScope::close);
        if (parent != null) {
            parent.children.remove(this);
        }
        synchronized (this) {
            for (TorchTensor t : owned) {
                t.free();
            }
            owned.clear();
        }
    }
}
