package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Tensor;
import java.util.Arrays;

/**
 * A libtorch tensor seen through the SPI: one {@code AtenTensorHandle} owned by a {@link TorchScope}. Shape,
 * dtype and device are read once at creation; strides on demand (views have their own).
 */
final class TorchTensor implements Tensor {
    private final TorchRuntime rt;
    private final long[] shape;
    private final DType dtype;
    private final Device device;
    private long handle;
    TorchScope owner;

    TorchTensor(TorchRuntime rt, long handle) {
        this.rt = rt;
        this.handle = handle;
        this.shape = rt.shim().sizes(handle);
        this.dtype = rt.dtypeOf(handle);
        this.device = rt.device();
    }

    /** The live handle; a tensor whose scope closed is a clear error, never a dangling pointer. */
    long handle() {
        if (handle == 0) {
            throw new IllegalStateException("tensor " + this + " used after its scope closed");
        }
        return handle;
    }

    /** Called by the owning scope when it closes. */
    void free() {
        if (handle != 0) {
            long h = handle;
            handle = 0;
            rt.shim().delete(h);
        }
    }

    long[] strides() {
        return rt.shim().strides(handle());
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public DType dtype() {
        return dtype;
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public long dim(int axis) {
        return shape[axis < 0 ? shape.length + axis : axis];
    }

    @Override
    public int rank() {
        return shape.length;
    }

    @Override
    public float[] toFloats() {
        return rt.toFloats(this);
    }

    @Override
    public void toFloats(long from, float[] out, int off, int count) {
        rt.toFloats(this, from, out, off, count);
    }

    @Override
    public long[] toLongs() {
        return rt.toLongs(this);
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + " " + dtype;
    }
}
