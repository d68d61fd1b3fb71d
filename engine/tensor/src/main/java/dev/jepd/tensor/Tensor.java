package dev.jepd.tensor;

/** A dense, row-major tensor owned by a {@link TensorScope}; float32 unless made from integers. */
public interface Tensor {
    long[] shape();

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
