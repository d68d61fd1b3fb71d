package dev.jepd.tensor.torch;

import java.lang.foreign.MemorySegment;

/**
 * A prompt's causal attention over its keys (prefill: a fresh prompt, or a chunk after cached context) in one pass of
 * JEPD's own AVX-512 BF16 kernel ({@code jepd_bf16_causal_attention}, {@link NativeKernels}), where libtorch 2.7.1's
 * CPU flash attention ran a 512-token prefill of 16 heads at ~60 GFLOP/s on the AMD machine of docs/PERF.md (2,048
 * tokens ~120). Each vector holds 16 queries of one head, so the softmax's maximum and sum run down the keys with no
 * lane reductions: the scores from each key's pairs broadcast against the queries packed once, the terms rounded to
 * bf16 in pairs of keys, the values packed per block of 64 keys into key pairs and shared by a KV head's query heads;
 * an online softmax over the blocks keeps each head's running maximum, sum and output in f32. Memory is linear in the
 * tokens (a few hundred KB of scratch per thread).
 *
 * <p>Numerics, as libtorch's CPU flash attention in bf16 up to the order of sums and its block boundaries: scores are
 * sums of exact bf16 products in f32, scaled; the terms {@code exp(s - max)} in f32, summed in f32, rounded to bf16
 * for the product with the values (f32 sums); the output times {@code 1 / sum}, rounded once. Jobs (a KV head and 64
 * queries each) are shared by {@link HostPool}'s threads; a caller that finds the pool busy gets {@code false} and uses
 * libtorch.
 */
final class Bf16CausalAttention {
    /** Why the kernel is off ({@link NativeKernels}), or null when it is on. */
    static final String UNAVAILABLE_BECAUSE = NativeKernels.CAUSAL_ATTENTION == null
            ? (NativeKernels.AVX512_OFF_BECAUSE != null ? NativeKernels.AVX512_OFF_BECAUSE : "not in the library")
            : null;

    static final boolean AVAILABLE = UNAVAILABLE_BECAUSE == null;

    /** The largest head size the kernel takes (a multiple of 16). */
    static final long MAX_HEAD_DIM = 256;

    /** Queries per job. */
    private static final long BLOCK = 64;

    private Bf16CausalAttention() {}

    /** Whether the kernel takes heads of {@code d}: a multiple of 16, at most {@link #MAX_HEAD_DIM}. */
    static boolean takes(long d) {
        return d > 0 && d % 16 == 0 && d <= MAX_HEAD_DIM;
    }

    /**
     * The bytes an operand of {@code tokens} × {@code heads} bf16 rows of {@code d} spans, from its first element past
     * its last (strides in elements).
     */
    static long span(long tokens, long tokenStride, long heads, long headStride, long d) {
        return 2 * ((tokens - 1) * tokenStride + (heads - 1) * headStride + d);
    }

    /**
     * Computes {@code out[i, h] = softmax_{j ≤ q0 + i}(q[i, h] · k[j, h / g] · scale) · v[j, h / g]}. Each operand is
     * bf16 rows of {@code d} elements, dense within a row; strides are in elements.
     *
     * @param q {@code n} queries × {@code heads}, at positions {@code q0 ..}
     * @param k {@code s} keys × {@code kvHeads} ({@code s ≥ q0 + n} is not required: keys past {@code s} do not exist)
     * @param out {@code [n, heads, d]} with the given strides, written
     * @return false, writing nothing, when another job holds the pool
     */
    static boolean tryRun(
            MemorySegment q,
            long qHeadStride,
            long qTokenStride,
            MemorySegment k,
            long kHeadStride,
            long kTokenStride,
            MemorySegment v,
            long vHeadStride,
            long vTokenStride,
            long n,
            long s,
            long q0,
            long heads,
            long kvHeads,
            long d,
            float scale,
            MemorySegment out,
            long outHeadStride,
            long outTokenStride) {
        if (!AVAILABLE) {
            throw new IllegalStateException("the causal attention kernel is off: " + UNAVAILABLE_BECAUSE);
        }
        if (n < 1 || s < 1 || q0 < 0 || kvHeads < 1 || heads % kvHeads != 0 || !takes(d)) {
            throw new IllegalArgumentException("causal attention: bad shape, " + n + " queries of " + heads
                    + " heads at " + q0 + " over " + s + " keys of " + kvHeads + " heads, d " + d);
        }
        if (q.byteSize() < span(n, qTokenStride, heads, qHeadStride, d)
                || k.byteSize() < span(s, kTokenStride, kvHeads, kHeadStride, d)
                || v.byteSize() < span(s, vTokenStride, kvHeads, vHeadStride, d)
                || out.byteSize() < span(n, outTokenStride, heads, outHeadStride, d)) {
            throw new IllegalArgumentException("causal attention: segments smaller than their shapes");
        }
        long jobs = kvHeads * ((n + BLOCK - 1) / BLOCK);
        HostPool.RangeJob job = HostPool.RangeJob.of(jobs, 1, (from, to) -> {
            try {
                int rc = (int) NativeKernels.CAUSAL_ATTENTION.invokeExact(
                        q,
                        qHeadStride,
                        qTokenStride,
                        k,
                        kHeadStride,
                        kTokenStride,
                        v,
                        vHeadStride,
                        vTokenStride,
                        n,
                        s,
                        q0,
                        heads,
                        kvHeads,
                        d,
                        scale,
                        out,
                        outHeadStride,
                        outTokenStride,
                        from,
                        to);
                if (rc != 0) {
                    throw new IllegalStateException("jepd_bf16_causal_attention: out of memory for its scratch");
                }
            } catch (Throwable e) {
                throw AotiShim.rethrow(e);
            }
        });
        return HostPool.SHARED.tryRun(job, false);
    }
}
