package dev.jepd.tensor;

/**
 * A dense, row-major tensor owned by a {@link Scope}. Its {@link #dtype()} is the backend's compute
 * type for floating-point data (F32 in the DJL and reference backends) or I64 when made from integers.
 */
public interface Tensor {
    long[] shape();

    DType dtype();

    Device device();

    default int rank() {
        return shape().length;
    }

    default long dim(int axis) {
        long[] s = shape();
        return s[axis < 0 ? s.length + axis : axis];
    }

    default long numel() {
        long n = 1;
        for (long d : shape()) {
            n *= d;
        }
        return n;
    }

    /** Copies the values out (row-major), float32. */
    float[] toFloats();

    /** Copies integer values out (row-major). */
    long[] toLongs();
}
