package dev.jepd.bench;

import dev.jepd.models.qwen25vl.Qwen25VlConfig;
import dev.jepd.models.qwen25vl.VisionWindows;
import java.util.List;

/**
 * The work a Qwen2.5-VL forward pass does, counted from the config: FLOPs of the matrix products
 * (2 per multiply-add) and bytes of f32 weights read. Elementwise ops (norms, rotary, softmax, SiLU,
 * residual adds) are left out: they are O(tokens × hidden), two orders of magnitude below the products.
 * Attention is counted as the code executes it: the full score and value products of every segment (the
 * causal mask hides entries, it does not skip them).
 */
public final class Qwen25VlWork {
    /** Compute is f32 whatever the checkpoint stores. */
    public static final int COMPUTE_BYTES = 4;

    private Qwen25VlWork() {}

    /**
     * FLOPs of the vision tower on one image.
     *
     * @param windowBlock one block with windowed attention: its matrix products plus attention per window
     * @param fullBlock one block with full attention over the frame
     * @param blocks per block of this config's depth, in order
     */
    public record VisionFlops(long patchEmbed, long windowBlock, long fullBlock, long[] blocks, long merger) {
        public long total() {
            long t = patchEmbed + merger;
            for (long b : blocks) {
                t += b;
            }
            return t;
        }
    }

    /** The tower on a {@code gridT × gridH × gridW} patch grid (448×448 pixels is 1 × 32 × 32). */
    public static VisionFlops vision(Qwen25VlConfig.VisionConfig v, int gridT, int gridH, int gridW) {
        long n = (long) gridT * gridH * gridW; // patches
        long h = v.hiddenSize();
        long i = v.intermediateSize();
        long patchEmbed = 2 * n * v.patchDim() * h;
        // qkv [h → 3h], proj [h → h], gate and up [h → i], down [i → h]
        long products = 2 * n * h * (3 * h + h + 2 * i + i);
        VisionWindows w = VisionWindows.of(
                List.of(new dev.jepd.media.ImageGrid(gridT, gridH, gridW, v.spatialMergeSize())),
                v.windowSize(),
                v.patchSize(),
                v.spatialMergeSize());
        long windowed = attention(w.windowSegments(), h);
        long full = attention(w.frameSegments(), h);
        long[] blocks = new long[v.depth()];
        for (int b = 0; b < blocks.length; b++) {
            blocks[b] = products + (v.isFullAttention(b) ? full : windowed);
        }
        long units = n / v.mergeUnit();
        long merged = h * v.mergeUnit();
        long merger = 2 * units * merged * merged + 2 * units * merged * v.outHiddenSize();
        return new VisionFlops(patchEmbed, products + windowed, products + full, blocks, merger);
    }

    /** q·kᵀ and p·v over each segment of length L: 2 · 2 · L² · (heads × headDim). */
    private static long attention(int[] segments, long width) {
        long f = 0;
        for (int s = 0; s + 1 < segments.length; s++) {
            long len = segments[s + 1] - segments[s];
            f += 4 * len * len * width;
        }
        return f;
    }

    /** Multiply-adds per token of one decoder layer's projections and MLP (its weight count without biases). */
    public static long layerMatrixParams(Qwen25VlConfig c) {
        long h = c.hiddenSize();
        long q = (long) c.numHeads() * c.headDim();
        long kv = (long) c.numKvHeads() * c.headDim();
        long i = c.intermediateSize();
        return h * q + 2 * h * kv + q * h + 3 * h * i;
    }

    /**
     * FLOPs of one decoder layer on {@code tokens} new tokens attending to {@code context} keys each (the
     * prompt: {@code context == tokens}; a decode step: {@code tokens == 1}).
     */
    public static long layerFlops(Qwen25VlConfig c, long tokens, long context) {
        long q = (long) c.numHeads() * c.headDim();
        return 2 * tokens * layerMatrixParams(c) + 4 * tokens * context * q;
    }

    /** The LM head on {@code rows} rows (the last prompt token of each sequence). */
    public static long headFlops(Qwen25VlConfig c, long rows) {
        return 2 * rows * c.vocabSize() * (long) c.hiddenSize();
    }

    /** A whole prefill of one {@code tokens}-long prompt: every layer, then the head on the last row. */
    public static long prefillFlops(Qwen25VlConfig c, long tokens) {
        return c.numLayers() * layerFlops(c, tokens, tokens) + headFlops(c, 1);
    }

    /** Bytes of f32 weights one decoder layer reads per step: projections, MLP, biases and both norms. */
    public static long layerWeightBytes(Qwen25VlConfig c) {
        return layerWeightBytes(c, COMPUTE_BYTES);
    }

    /** As {@link #layerWeightBytes(Qwen25VlConfig)} for weights of {@code bytesPerWeight} bytes (bf16: 2). */
    public static long layerWeightBytes(Qwen25VlConfig c, int bytesPerWeight) {
        long q = (long) c.numHeads() * c.headDim();
        long kv = (long) c.numKvHeads() * c.headDim();
        long params = layerMatrixParams(c) + q + 2 * kv + 2L * c.hiddenSize();
        return params * bytesPerWeight;
    }

    /**
     * Bytes of f32 weights behind the layers per step: the final norm and the LM head (the embedding
     * matrix again when tied). The embedding gather reads one row per token and is left out.
     */
    public static long headWeightBytes(Qwen25VlConfig c) {
        return headWeightBytes(c, COMPUTE_BYTES);
    }

    public static long headWeightBytes(Qwen25VlConfig c, int bytesPerWeight) {
        return ((long) c.vocabSize() * c.hiddenSize() + c.hiddenSize()) * bytesPerWeight;
    }

    /** Weight bytes one decode step streams, whatever the batch: every layer once, then the head. */
    public static long decodeWeightBytes(Qwen25VlConfig c) {
        return decodeWeightBytes(c, COMPUTE_BYTES);
    }

    public static long decodeWeightBytes(Qwen25VlConfig c, int bytesPerWeight) {
        return c.numLayers() * layerWeightBytes(c, bytesPerWeight) + headWeightBytes(c, bytesPerWeight);
    }
}
