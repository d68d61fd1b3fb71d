package dev.jepd.tensor.ref;

import dev.jepd.tensor.Device;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The reference {@link TensorBackend}: F32 maths in plain Java (double accumulation in sums and products),
 * I64 for index tensors ({@link RefOps}). Tensors live on the Java heap's off-heap arenas of the GC; scopes
 * only decide validity, so a use after close fails loudly, as it would free memory in a native backend.
 */
public final class RefBackend implements TensorBackend {
    @Override
    public String name() {
        return "ref (pure Java, f32)";
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public Scope open() {
        return new RefScope(null);
    }

    @Override
    public Ops ops(Scope scope) {
        return new RefOps((RefScope) scope);
    }

    @Override
    public void copyOut(Tensor t, MemorySegment dst) {
        MemorySegment src = RefOps.ref(t).data();
        MemorySegment.copy(src, 0, dst, 0, src.byteSize()); // both little-endian, row-major
    }

    @Override
    public Optional<MemorySegment> registrable(Tensor t) {
        return Optional.of(RefOps.ref(t).data());
    }

    @Override
    public void close() {}

    /** Validity bookkeeping only: tensors point at their owner, closing marks it (and its children) closed. */
    static final class RefScope implements Scope {
        private final RefScope parent;
        private final Set<RefScope> children = ConcurrentHashMap.newKeySet();
        volatile boolean closed;

        RefScope(RefScope parent) {
            this.parent = parent;
        }

        @Override
        public Scope child() {
            if (closed) {
                throw new IllegalStateException("child of a closed scope");
            }
            RefScope c = new RefScope(this);
            children.add(c);
            return c;
        }

        @Override
        public <T extends Tensor> T keep(T t) {
            if (parent == null) {
                throw new IllegalStateException("keep in a root scope: it has no parent to hand the tensor to");
            }
            RefOps.ref(t).owner = parent;
            return t;
        }

        @Override
        public <T extends Tensor> T moveTo(Scope target, T t) {
            RefOps.ref(t).owner = (RefScope) target;
            return t;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                List.copyOf(children).forEach(RefScope::close);
                if (parent != null) {
                    parent.children.remove(this);
                }
            }
        }
    }
}
