package dev.jepd.serving;

import dev.jepd.engine.generate.SchedulerConfig;
import dev.jepd.models.ModelParts;

/**
 * How to open a model.
 *
 * @param kvCacheBytes memory for the KV cache ({@code --kv-cache-memory-bytes}); the block count follows from
 *     it. 0 on an accelerator: sized from {@code gpuMemoryUtilization} instead, as vLLM does
 * @param maxModelLen {@code --max-model-len}, or 0 for the model's own limit
 * @param gpuMemoryUtilization the share of the device's memory this process may use in all (vLLM's {@code
 *     --gpu-memory-utilization}, default 0.9): weights, activations and the KV cache together; ignored on the
 *     CPU and when {@code kvCacheBytes} is set
 */
public record RuntimeOptions(
        ModelParts parts,
        int maxNumSeqs,
        int maxNumBatchedTokens,
        int maxModelLen,
        int blockSize,
        long kvCacheBytes,
        long seed,
        double gpuMemoryUtilization) {
    /** vLLM's default {@code --gpu-memory-utilization}. */
    public static final double DEFAULT_GPU_MEMORY_UTILIZATION = 0.9;

    /** The KV cache size on the CPU when none is given. */
    public static final long DEFAULT_KV_CACHE_BYTES = 512L << 20;

    public RuntimeOptions {
        if (!(gpuMemoryUtilization > 0 && gpuMemoryUtilization <= 1)) {
            throw new IllegalArgumentException(
                    "--gpu-memory-utilization must be in (0, 1], got " + gpuMemoryUtilization);
        }
        if (kvCacheBytes < 0) {
            throw new IllegalArgumentException("--kv-cache-memory-bytes must not be negative, got " + kvCacheBytes);
        }
    }

    public static RuntimeOptions defaults(ModelParts parts) {
        return new RuntimeOptions(parts, 256, 8192, 0, 16, DEFAULT_KV_CACHE_BYTES, 0, DEFAULT_GPU_MEMORY_UTILIZATION);
    }

    public RuntimeOptions withMaxModelLen(int v) {
        return new RuntimeOptions(
                parts, maxNumSeqs, maxNumBatchedTokens, v, blockSize, kvCacheBytes, seed, gpuMemoryUtilization);
    }

    public RuntimeOptions withSeed(long v) {
        return new RuntimeOptions(
                parts, maxNumSeqs, maxNumBatchedTokens, maxModelLen, blockSize, kvCacheBytes, v, gpuMemoryUtilization);
    }

    public RuntimeOptions withBatching(int seqs, int batchedTokens) {
        return new RuntimeOptions(
                parts, seqs, batchedTokens, maxModelLen, blockSize, kvCacheBytes, seed, gpuMemoryUtilization);
    }

    /** A fixed KV cache size; 0 sizes it from the device's memory (accelerators only). */
    public RuntimeOptions withKvCacheBytes(long v) {
        return new RuntimeOptions(
                parts, maxNumSeqs, maxNumBatchedTokens, maxModelLen, blockSize, v, seed, gpuMemoryUtilization);
    }

    public RuntimeOptions withGpuMemoryUtilization(double v) {
        return new RuntimeOptions(
                parts, maxNumSeqs, maxNumBatchedTokens, maxModelLen, blockSize, kvCacheBytes, seed, v);
    }

    SchedulerConfig scheduler(int modelMaxLen, int numBlocks) {
        int len = maxModelLen > 0 ? maxModelLen : modelMaxLen;
        return new SchedulerConfig(maxNumSeqs, Math.max(maxNumBatchedTokens, 1), len, blockSize, numBlocks);
    }
}
