package dev.jepd.models.qwenvl;

import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;

/**
 * The attention of a Qwen-VL vision block, the same in all three families: a fused qkv projection, the 2-D
 * rotary on q and k, block-diagonal attention over {@code segments} (frames or windows), the output projection.
 */
public final class VisionAttention {
    private VisionAttention() {}

    /**
     * @param h the normed input {@code [N, hidden]}
     * @param qkvW {@code [3*hidden, hidden]}, {@code qkvB} {@code [3*hidden]}
     * @param cos the rotary tables {@code [N, headDim]}, as {@code sin}
     * @return {@code [N, hidden]}, before the residual
     */
    public static Tensor apply(
            Ops ops,
            Tensor h,
            Tensor qkvW,
            Tensor qkvB,
            Tensor projW,
            Tensor projB,
            Tensor cos,
            Tensor sin,
            int[] segments,
            int heads,
            int headDim) {
        long n = h.dim(0);
        Tensor qkv = ops.reshape(ops.linear(h, qkvW, qkvB), n, 3, heads, headDim); // [N, 3, heads, hd]
        qkv = ops.permute(qkv, 1, 2, 0, 3); // [3, heads, N, hd]: q, k and v are views of the product
        Tensor q = ops.reshape(ops.slice(qkv, 0, 0, 1), heads, n, headDim);
        Tensor k = ops.reshape(ops.slice(qkv, 0, 1, 2), heads, n, headDim);
        Tensor v = ops.reshape(ops.slice(qkv, 0, 2, 3), heads, n, headDim);
        Tensor attn = ops.rotaryVarlenAttention(
                q, k, v, cos, sin, segments, (float) (1.0 / Math.sqrt(headDim))); // [heads, N, hd]
        attn = ops.reshape(ops.permute(attn, 1, 0, 2), n, (long) heads * headDim);
        return ops.linear(attn, projW, projB);
    }
}
