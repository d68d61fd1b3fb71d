package dev.jepd.engine.sampling;

/**
 * Log-softmax values for OpenAI's {@code logprobs} / {@code top_logprobs}. Like vLLM's default
 * {@code logprobs_mode=raw_logprobs}, they come from the model's raw logits, before penalties and
 * temperature: pass the row the sampler was given.
 */
public final class Logprobs {
    private Logprobs() {}

    /** {@code log(sum(exp(logits)))}, computed stably in double. */
    public static double logSumExp(float[] logits) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : logits) {
            if (v > max) {
                max = v;
            }
        }
        if (max == Float.NEGATIVE_INFINITY || Float.isNaN(max)) {
            return max;
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - (double) max);
        }
        return max + Math.log(sum);
    }

    /** The chosen token's log-probability and rank, and the {@code topN} most likely tokens. */
    public static TokenLogprobs of(float[] logits, int tokenId, int topN) {
        if (tokenId < 0 || tokenId >= logits.length) {
            throw new IndexOutOfBoundsException("token id " + tokenId + " outside a vocabulary of " + logits.length);
        }
        if (topN < 0) {
            throw new IllegalArgumentException("top_logprobs must be non-negative, got " + topN);
        }
        double lse = logSumExp(logits);
        float chosen = logits[tokenId];
        int rank = 0;
        for (float v : logits) {
            if (v >= chosen) {
                rank++;
            }
        }
        int[] top = TopK.indices(logits, Math.min(topN, logits.length), Float.NEGATIVE_INFINITY);
        float[] topLogprobs = new float[top.length];
        for (int j = 0; j < top.length; j++) {
            topLogprobs[j] = (float) (logits[top[j]] - lse);
        }
        return new TokenLogprobs(tokenId, (float) (chosen - lse), rank, top, topLogprobs);
    }
}
