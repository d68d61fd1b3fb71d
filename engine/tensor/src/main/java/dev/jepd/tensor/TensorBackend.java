package dev.jepd.tensor;

import java.util.List;

/**
 * The ops models are written in (~30). Shapes follow PyTorch conventions: the last axis is contiguous,
 * binary ops broadcast, negative axes count from the end. Every result belongs to the calling thread's
 * current scope. Composite ops (norms, attention) have defaults built from the primitives; a backend may
 * fuse them.
 */
public interface TensorBackend extends AutoCloseable {
    String name();

    /** Opens a child of the thread's current scope (or a root scope) and makes it current. */
    TensorScope scope();

    // ---- creation and reading
    Tensor fromFloats(float[] data, long... shape);

    Tensor fromLongs(long[] data, long... shape);

    Tensor zeros(long... shape);

    // ---- elementwise (broadcasting)
    Tensor add(Tensor a, Tensor b);

    Tensor sub(Tensor a, Tensor b);

    Tensor mul(Tensor a, Tensor b);

    Tensor div(Tensor a, Tensor b);

    Tensor scale(Tensor a, float s);

    Tensor neg(Tensor a);

    Tensor cos(Tensor a);

    Tensor sin(Tensor a);

    Tensor sigmoid(Tensor a);

    Tensor silu(Tensor a);

    /** Exact (erf) GELU, PyTorch's {@code nn.GELU()} default. */
    Tensor gelu(Tensor a);

    /** {@code x * sigmoid(1.702 x)} (Qwen2-VL's vision MLP). */
    default Tensor quickGelu(Tensor a) {
        return mul(a, sigmoid(scale(a, 1.702f)));
    }

    // ---- reductions
    Tensor meanLastAxis(Tensor a);

    Tensor softmaxLastAxis(Tensor a);

    // ---- linear algebra
    /** Batched matrix product with broadcasting over leading axes (torch.matmul). */
    Tensor matmul(Tensor a, Tensor b);

    /**
     * {@code x @ w^T + bias} for {@code x [..., in]}, {@code w [out, in]} (the checkpoint layout), bias
     * {@code [out]} or null. A one-row {@code x} runs as a matrix-vector product: at M=1 GEMM paths are
     * 2.5–3.4× slower on CPU.
     */
    Tensor linear(Tensor x, Tensor w, Tensor bias);

    // ---- shape
    Tensor reshape(Tensor a, long... shape);

    /** Permutes axes (torch.permute); the result is a view or a copy at the backend's choice. */
    Tensor permute(Tensor a, int... axes);

    Tensor concat(List<Tensor> parts, int axis);

    /** {@code a[..., start:end, ...]} along {@code axis}. */
    Tensor slice(Tensor a, int axis, long start, long end);

    /** Rows of {@code a} (axis 0) at the int64 positions of {@code index} (torch.index_select). */
    Tensor gatherRows(Tensor a, Tensor index);

    /** In place: {@code dst[index[i]] = src[i]} along axis 0 (torch.index_copy_). */
    void scatterRows(Tensor dst, Tensor index, Tensor src);

    // ---- composites
    /** Qwen2RMSNorm: {@code w * x * rsqrt(mean(x²) + eps)} over the last axis, in float32. */
    default Tensor rmsNorm(Tensor x, Tensor w, float eps) {
        Tensor var = meanLastAxis(mul(x, x)); // [..., 1]
        return mul(w, div(x, sqrt(addScalar(var, eps))));
    }

    /** LayerNorm over the last axis with weight and bias. */
    default Tensor layerNorm(Tensor x, Tensor w, Tensor b, float eps) {
        Tensor centred = sub(x, meanLastAxis(x));
        Tensor var = meanLastAxis(mul(centred, centred));
        return add(mul(w, div(centred, sqrt(addScalar(var, eps)))), b);
    }

    Tensor sqrt(Tensor a);

    Tensor addScalar(Tensor a, float s);

    /**
     * Scaled dot-product attention: {@code softmax(q kᵀ · scale + mask) v}. {@code q [..., T, d]},
     * {@code k, v [..., S, d]} broadcasting over leading axes, mask additive {@code [T, S]} or null.
     */
    default Tensor attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        Tensor scores = scale(matmul(q, permuteLastTwo(k)), scale); // [..., T, S]
        if (mask != null) {
            scores = add(scores, mask);
        }
        return matmul(softmaxLastAxis(scores), v); // [..., T, d]
    }

    /**
     * Rotary embedding in the rotate-half layout: {@code x·cos + rotate_half(x)·sin}, where
     * {@code rotate_half([x1, x2]) = [-x2, x1]} splits the last axis in two; tables broadcast against x.
     */
    default Tensor rotary(Tensor x, Tensor cos, Tensor sin) {
        long half = x.dim(-1) / 2;
        Tensor x1 = slice(x, -1, 0, half);
        Tensor x2 = slice(x, -1, half, 2 * half);
        Tensor rotated = concat(List.of(neg(x2), x1), -1);
        return add(mul(x, cos), mul(rotated, sin));
    }

    default Tensor permuteLastTwo(Tensor a) {
        int r = a.rank();
        int[] axes = new int[r];
        for (int i = 0; i < r; i++) {
            axes[i] = i;
        }
        axes[r - 1] = r - 2;
        axes[r - 2] = r - 1;
        return permute(a, axes);
    }

    @Override
    void close();
}
