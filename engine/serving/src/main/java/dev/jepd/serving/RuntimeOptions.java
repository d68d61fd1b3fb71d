package dev.jepd.serving;

import dev.jepd.engine.generate.SchedulerConfig;
import dev.jepd.models.ModelParts;

/**
 * How to open a model.
 *
 * @param kvCacheBytes memory for the KV cache; the block count follows from it
 * @param maxModelLen {@code --max-model-len}, or 0 for the model's own limit
 */
public record RuntimeOptions(
        ModelParts parts,
        int maxNumSeqs,
        int maxNumBatchedTokens,
        int maxModelLen,
        int blockSize,
        long kvCacheBytes,
        long seed) {
    public static RuntimeOptions defaults(ModelParts parts) {
        return new RuntimeOptions(parts, 256, 8192, 0, 16, 512L << 20, 0);
    }

    public RuntimeOptions withMaxModelLen(int v) {
        return new RuntimeOptions(parts, maxNumSeqs, maxNumBatchedTokens, v, blockSize, kvCacheBytes, seed);
    }

    public RuntimeOptions withSeed(long v) {
        return new RuntimeOptions(parts, maxNumSeqs, maxNumBatchedTokens, maxModelLen, blockSize, kvCacheBytes, v);
    }

    public RuntimeOptions withBatching(int seqs, int batchedTokens) {
        return new RuntimeOptions(parts, seqs, batchedTokens, maxModelLen, blockSize, kvCacheBytes, seed);
    }

    public RuntimeOptions withKvCacheBytes(long v) {
        return new RuntimeOptions(parts, maxNumSeqs, maxNumBatchedTokens, maxModelLen, blockSize, v, seed);
    }

    SchedulerConfig scheduler(int modelMaxLen, int numBlocks) {
        int len = maxModelLen > 0 ? maxModelLen : modelMaxLen;
        return new SchedulerConfig(maxNumSeqs, Math.max(maxNumBatchedTokens, 1), len, blockSize, numBlocks);
    }
}
