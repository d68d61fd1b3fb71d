package dev.jepd.models.qwenvl;

import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import java.util.function.BiFunction;

/**
 * The vision block of Qwen2-VL and Qwen3-VL, bound from each family's own tensor names: LayerNorms with bias,
 * {@link VisionAttention}, and a two-layer MLP whose activation is the family's (QuickGELU, tanh-GELU).
 */
public record LayerNormVisionBlock(
        Tensor norm1W /*[hidden]*/,
        Tensor norm1B /*[hidden]*/,
        Tensor norm2W /*[hidden]*/,
        Tensor norm2B /*[hidden]*/,
        Tensor qkvW /*[3*hidden, hidden]*/,
        Tensor qkvB /*[3*hidden]*/,
        Tensor projW /*[hidden, hidden]*/,
        Tensor projB /*[hidden]*/,
        Tensor fc1W /*[mlp, hidden]*/,
        Tensor fc1B /*[mlp]*/,
        Tensor fc2W /*[hidden, mlp]*/,
        Tensor fc2B /*[hidden]*/) {
    private static final float EPS = 1e-6f;

    /** {@code x [N, hidden]} through the block; attention stays within {@code segments}. */
    public Tensor forward(
            Ops ops,
            Tensor x,
            Tensor cos,
            Tensor sin,
            int[] segments,
            int heads,
            int headDim,
            BiFunction<Ops, Tensor, Tensor> activation) {
        Tensor h = ops.layerNorm(x, norm1W, norm1B, EPS);
        x = ops.add(x, VisionAttention.apply(ops, h, qkvW, qkvB, projW, projB, cos, sin, segments, heads, headDim));
        Tensor h2 = ops.layerNorm(x, norm2W, norm2B, EPS);
        Tensor mlp = ops.linear(activation.apply(ops, ops.linear(h2, fc1W, fc1B)), fc2W, fc2B);
        return ops.add(x, mlp);
    }
}
