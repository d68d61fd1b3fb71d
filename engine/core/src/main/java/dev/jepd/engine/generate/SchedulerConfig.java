package dev.jepd.engine.generate;

/**
 * Bounds of one engine step and of the KV cache.
 *
 * @param maxNumSeqs sequences running at once ({@code --max-num-seqs})
 * @param maxNumBatchedTokens new tokens per step, prefill chunks included ({@code --max-num-batched-tokens})
 * @param maxModelLen longest prompt + output ({@code --max-model-len})
 * @param blockSize tokens per KV block
 * @param numBlocks KV blocks in the pool
 */
public record SchedulerConfig(int maxNumSeqs, int maxNumBatchedTokens, int maxModelLen, int blockSize, int numBlocks) {
    public SchedulerConfig {
        if (maxNumSeqs < 1 || maxNumBatchedTokens < 1 || maxModelLen < 1 || blockSize < 1 || numBlocks < 1) {
            throw new IllegalArgumentException("scheduler bounds must be positive: " + this);
        }
    }
}
