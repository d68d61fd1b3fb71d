package dev.jepd.bench;

import dev.jepd.media.ImageGrid;
import dev.jepd.models.qwen2.Qwen2TextParams;
import dev.jepd.models.qwen25vl.VisionWindows;
import java.util.List;

/**
 * The work a Qwen-VL forward pass does (Qwen2.5-VL, Qwen2-VL, Qwen3-VL), counted from the config: FLOPs of the
 * matrix products (2 per multiply-add) and bytes of weights read. Elementwise ops (norms, rotary, softmax,
 * activations, residual and DeepStack adds, Qwen3-VL's position-table resampling) are left out: they are
 * O(tokens × hidden), two orders of magnitude below the products. Attention is counted as the code executes it:
 * the full score and value products of every segment (the causal mask hides entries, it does not skip them).
 */
public final class QwenVlWork {
    /** Compute is f32 whatever the checkpoint stores (DJL). */
    public static final int COMPUTE_BYTES = 4;

    private QwenVlWork() {}

    /**
     * FLOPs of the vision tower on one image.
     *
     * @param windowBlock one block with windowed attention (equal to {@code fullBlock} in towers without windows)
     * @param fullBlock one block with full attention over the frame
     * @param blocks per block of this config's depth, in order
     * @param merger one merger (the main one; each DeepStack merger has the same shape)
     * @param mergers how many mergers run: the main one and one per DeepStack level
     */
    public record VisionFlops(
            long patchEmbed, long windowBlock, long fullBlock, long[] blocks, long merger, int mergers) {
        public long total() {
            long t = patchEmbed + merger * mergers;
            for (long b : blocks) {
                t += b;
            }
            return t;
        }
    }

    /** The tower on a {@code gridT × gridH × gridW} patch grid (448×448 pixels at patch 14 is 1 × 32 × 32). */
    public static VisionFlops vision(BenchModel.Vision v, int gridT, int gridH, int gridW) {
        long n = (long) gridT * gridH * gridW; // patches
        long h = v.hidden();
        long i = v.mlpWidth();
        long patchEmbed = 2 * n * v.patchDim() * h;
        // qkv [h → 3h], proj [h → h]; MLP gate and up [h → i] + down [i → h], or fc1 [h → i] + fc2 [i → h]
        long products = 2 * n * h * (3 * h + h + (v.gatedMlp() ? 3 : 2) * i);
        List<ImageGrid> grids = List.of(new ImageGrid(gridT, gridH, gridW, v.spatialMergeSize()));
        long full;
        long windowed;
        if (v.windowed()) {
            VisionWindows w = VisionWindows.of(grids, v.windowSize(), v.patchSize(), v.spatialMergeSize());
            windowed = attention(w.windowSegments(), h);
            full = attention(w.frameSegments(), h);
        } else {
            long frame = (long) gridH * gridW;
            full = gridT * 4 * frame * frame * h; // attention never crosses a frame
            windowed = full;
        }
        long[] blocks = new long[v.depth()];
        for (int b = 0; b < blocks.length; b++) {
            blocks[b] = products + (v.isFullAttention(b) ? full : windowed);
        }
        long units = n / v.mergeUnit();
        long merged = h * v.mergeUnit();
        long merger = 2 * units * merged * merged + 2 * units * merged * v.outHidden();
        return new VisionFlops(patchEmbed, products + windowed, products + full, blocks, merger, v.mergers());
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
    public static long layerMatrixParams(Qwen2TextParams c) {
        long h = c.hidden();
        long q = (long) c.heads() * c.headDim();
        long kv = (long) c.kvHeads() * c.headDim();
        long i = c.intermediate();
        return h * q + 2 * h * kv + q * h + 3 * h * i;
    }

    /**
     * FLOPs of one decoder layer on {@code tokens} new tokens attending to {@code context} keys each (the
     * prompt: {@code context == tokens}; a decode step: {@code tokens == 1}).
     */
    public static long layerFlops(Qwen2TextParams c, long tokens, long context) {
        long q = (long) c.heads() * c.headDim();
        return 2 * tokens * layerMatrixParams(c) + 4 * tokens * context * q;
    }

    /** The LM head on {@code rows} rows (the last prompt token of each sequence). */
    public static long headFlops(Qwen2TextParams c, long rows) {
        return 2 * rows * c.vocab() * (long) c.hidden();
    }

    /** A whole prefill of one {@code tokens}-long prompt: every layer, then the head on the last row. */
    public static long prefillFlops(Qwen2TextParams c, long tokens) {
        return c.layers() * layerFlops(c, tokens, tokens) + headFlops(c, 1);
    }

    /** Bytes of f32 weights one decoder layer reads per step. */
    public static long layerWeightBytes(Qwen2TextParams c) {
        return layerWeightBytes(c, COMPUTE_BYTES);
    }

    /**
     * Bytes of weights of {@code bytesPerWeight} bytes (bf16: 2) one decoder layer reads per step: projections,
     * MLP, the q/k/v biases (Qwen2) or the q/k norms (Qwen3), and both layer norms.
     */
    public static long layerWeightBytes(Qwen2TextParams c, int bytesPerWeight) {
        long q = (long) c.heads() * c.headDim();
        long kv = (long) c.kvHeads() * c.headDim();
        long params = layerMatrixParams(c) + 2L * c.hidden();
        if (c.qkvBias()) {
            params += q + 2 * kv;
        }
        if (c.qkNorm()) {
            params += 2L * c.headDim();
        }
        return params * bytesPerWeight;
    }

    /**
     * Bytes of f32 weights behind the layers per step: the final norm and the LM head (the embedding
     * matrix again when tied). The embedding gather reads one row per token and is left out.
     */
    public static long headWeightBytes(Qwen2TextParams c) {
        return headWeightBytes(c, COMPUTE_BYTES);
    }

    public static long headWeightBytes(Qwen2TextParams c, int bytesPerWeight) {
        return ((long) c.vocab() * c.hidden() + c.hidden()) * bytesPerWeight;
    }

    /** Weight bytes one decode step streams, whatever the batch: every layer once, then the head. */
    public static long decodeWeightBytes(Qwen2TextParams c) {
        return decodeWeightBytes(c, COMPUTE_BYTES);
    }

    public static long decodeWeightBytes(Qwen2TextParams c, int bytesPerWeight) {
        return c.layers() * layerWeightBytes(c, bytesPerWeight) + headWeightBytes(c, bytesPerWeight);
    }
}
