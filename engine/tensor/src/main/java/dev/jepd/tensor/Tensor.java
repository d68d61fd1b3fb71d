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

    /**
     * Copies {@code count} values from flat (row-major) index {@code from} into {@code out[off..]}, float32: one row of
     * a larger tensor, such as one sequence's logits, without converting the rest. This default converts everything.
     */
    default void toFloats(long from, float[] out, int off, int count) {
        java.util.Objects.checkFromIndexSize(from, count, numel());
        System.arraycopy(toFloats(), Math.toIntExact(from), out, off, count);
    }

    /** Copies integer values out (row-major). */
    long[] toLongs();
}
