package dev.jepd.models.qwen2;

/**
 * The sizes of a Qwen2 decoder.
 *
 * @param mropeSection rotary frequency counts per position axis (t, h, w) summing to headDim/2, or
 *     {@code null} for plain 1-D RoPE
 * @param tiedEmbeddings the head is the embedding (no {@code lm_head.weight} in the checkpoint)
 * @param qkvBias the q/k/v projections have biases (every Qwen2 and Qwen2.5 checkpoint does)
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
        boolean tiedEmbeddings,
        boolean qkvBias) {

    public int ropeAxes() {
        return mropeSection == null ? 1 : mropeSection.length;
    }
}
