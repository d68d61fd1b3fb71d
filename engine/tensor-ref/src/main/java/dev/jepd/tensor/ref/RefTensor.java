package dev.jepd.tensor.ref;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/** An F32 or I64 tensor in its own native, little-endian, row-major segment. */
final class RefTensor implements Tensor {
    final long[] shape;
    final DType dtype;
    // An automatic arena: the memory lives as long as the tensor object is reachable, so a transport may
    // hold the registrable segment without a use-after-free; scopes only decide validity.
    private final MemorySegment data;
    RefBackend.RefScope owner;

    RefTensor(long[] shape, DType dtype, RefBackend.RefScope owner) {
        this.shape = shape.clone();
        this.dtype = dtype;
        this.owner = owner;
        long numel = RefOps.numel(shape);
        this.data = Arena.ofAuto()
                .allocate(Math.max(1, numel * dtype.byteSize()), 8)
                .asSlice(0, numel * dtype.byteSize());
    }

    /** The data, after checking that the owning scope is still open. */
    MemorySegment data() {
        if (owner != null && owner.closed) {
            throw new IllegalStateException("tensor " + this + " used after its scope closed");
        }
        return data;
    }

    float get(long i) {
        return dtype.getFloat(data(), i);
    }

    void set(long i, float v) {
        dtype.setFloat(data(), i, v);
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
        return Device.CPU;
    }

    @Override
    public float[] toFloats() {
        float[] out = new float[Math.toIntExact(numel())];
        toFloats(0, out, 0, out.length);
        return out;
    }

    @Override
    public void toFloats(long from, float[] out, int off, int count) {
        java.util.Objects.checkFromIndexSize(from, count, numel());
        java.util.Objects.checkFromIndexSize(off, count, out.length);
        MemorySegment d = data();
        for (int i = 0; i < count; i++) {
            out[off + i] = dtype.getFloat(d, from + i);
        }
    }

    @Override
    public long[] toLongs() {
        MemorySegment d = data();
        long[] out = new long[Math.toIntExact(numel())];
        for (int i = 0; i < out.length; i++) {
            out[i] = dtype.getLong(d, i);
        }
        return out;
    }

    @Override
    public String toString() {
        return "RefTensor" + Arrays.toString(shape) + dtype;
    }
}
