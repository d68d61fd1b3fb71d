package dev.jepd.models.qwen2;

/**
 * The sizes of a Qwen2-style decoder (Qwen2, and Qwen3's, which adds q/k norms and drops the q/k/v bias).
 *
 * @param mropeSection rotary frequency counts per position axis (t, h, w) summing to headDim/2, or
 *     {@code null} for plain 1-D RoPE
 * @param mropeInterleaved the axes take the frequencies in turn (t, h, w, t, h, w, …: Qwen3-VL's
 *     {@code mrope_interleaved}) instead of in consecutive sections (Qwen2-VL, Qwen2.5-VL)
 * @param tiedEmbeddings the head is the embedding (no {@code lm_head.weight} in the checkpoint)
 * @param qkvBias the q/k/v projections have biases (every Qwen2 and Qwen2.5 checkpoint does; Qwen3's do not)
 * @param qkNorm q and k are RMS-normed per head before the rotary (Qwen3's {@code q_norm}, {@code k_norm})
 * @param deepstackLevels how many DeepStack levels an injected row carries beside the input embedding (Qwen3-VL:
 *     {@code len(deepstack_visual_indexes)}, 0 otherwise); level {@code l} is added to the image rows' hidden
 *     states after layer {@code l}
 */
public record Qwen2TextParams(
        int hidden,
        int intermediate,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int vocab,
        float rmsNormEps,
        double ropeTheta,
        int[] mropeSection,
        boolean mropeInterleaved,
        boolean tiedEmbeddings,
        boolean qkvBias,
        boolean qkNorm,
        int deepstackLevels) {

    public Qwen2TextParams {
        if (deepstackLevels < 0 || deepstackLevels > layers) {
            throw new IllegalArgumentException(
                    "DeepStack levels " + deepstackLevels + " must be between 0 and the " + layers + " layers");
        }
    }

    public int ropeAxes() {
        return mropeSection == null ? 1 : mropeSection.length;
    }

    /** The width of an injected row: the input embedding, then each DeepStack level, {@code hidden} each. */
    public int embedWidth() {
        return hidden * (1 + deepstackLevels);
    }
}
