package dev.jepd.tensor.djl;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Optional;

/** {@link TensorBackend} on DJL's PyTorch engine (CPU, float32); the ops are {@link DjlOps}. */
public final class DjlBackend implements TensorBackend {
    static {
        // Never reach for the network: libtorch must come from the classpath jar.
        System.setProperty("ai.djl.offline", "true");
        // load and copyOut move bytes between little-endian storage and libtorch's native-order buffers.
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("DjlBackend needs a little-endian host");
        }
    }

    // The root manager lives as long as the backend; every scope is a sub-manager of it.
    private final NDManager root;

    public DjlBackend() {
        this.root = Engine.getEngine("PyTorch").newBaseManager();
    }

    @Override
    public String name() {
        return "djl-pytorch-cpu (libtorch " + Engine.getEngine("PyTorch").getVersion() + ")";
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public Scope open() {
        return new DjlScope(null, root.newSubManager());
    }

    @Override
    public Ops ops(Scope scope) {
        return new DjlOps((DjlScope) scope);
    }

    @Override
    public void copyOut(Tensor t, MemorySegment dst) {
        ByteBuffer bytes = DjlOps.nd(t).toByteBuffer(); // native order, contiguous, row-major
        MemorySegment src = MemorySegment.ofBuffer(bytes);
        MemorySegment.copy(src, 0, dst, 0, src.byteSize());
    }

    /** libtorch owns its memory and may move it; nothing here is safe to register. */
    @Override
    public Optional<MemorySegment> registrable(Tensor t) {
        return Optional.empty();
    }

    @Override
    public void close() {
        root.close();
    }

    /** A scope backed by a DJL sub-manager; a root scope's manager is a sub-manager of the backend's. */
    static final class DjlScope implements Scope {
        private final DjlScope parent;
        final NDManager manager;
        volatile boolean closed;

        DjlScope(DjlScope parent, NDManager manager) {
            this.parent = parent;
            this.manager = manager;
        }

        @Override
        public Scope child() {
            if (closed) {
                throw new IllegalStateException("child of a closed scope");
            }
            return new DjlScope(this, manager.newSubManager()); // closed with this manager at the latest
        }

        @Override
        public <T extends Tensor> T keep(T t) {
            if (parent == null) {
                throw new IllegalStateException("keep in a root scope: it has no parent to hand the tensor to");
            }
            DjlOps.nd(t).attach(parent.manager);
            return t;
        }

        @Override
        public <T extends Tensor> T moveTo(Scope target, T t) {
            DjlOps.nd(t).attach(((DjlScope) target).manager);
            return t;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                manager.close();
            }
        }
    }
}
