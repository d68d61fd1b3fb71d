package dev.jepd.tensor.torch;

import java.lang.foreign.MemorySegment;

/**
 * The decode attention of a whole batch over the paged KV cache in one pass of JEPD's own AVX-512 kernel
 * ({@link NativeKernels}): for each sequence and KV head, its query heads' scores against the context rows read
 * straight from the cache through the slot table, softmax, and the weighted sum of the value rows. libtorch's
 * route for the same step gathers both caches into new tensors, lays them out again and runs flash attention with a
 * padding mask: 2.9 ms per layer at batch 8 and context 512 on the machine of docs/PERF.md.
 *
 * <p>Numerics, as libtorch's CPU flash attention in bf16 up to the order of sums: scores are sums of exact bf16
 * products in f32, the softmax is f32, the probabilities weight the value rows in f32 (libtorch rounds them to bf16
 * first), the output is rounded once to bf16. The (sequence, KV head) pairs are shared by {@link HostPool}'s
 * threads; a caller that finds the pool busy gets {@code false} and uses libtorch.
 */
final class Bf16DecodeAttention {
    /** Why the kernel is off ({@link NativeKernels}), or null when it is on. */
    static final String UNAVAILABLE_BECAUSE = NativeKernels.AVX512_OFF_BECAUSE;

    static final boolean AVAILABLE = UNAVAILABLE_BECAUSE == null;

    /** The largest head size the kernel takes (its accumulators are registers: 8 vectors of 16 f32 per head). */
    static final long MAX_HEAD_DIM = 128;

    private Bf16DecodeAttention() {}

    /**
     * @param q {@code [B, H, d]} bf16, dense
     * @param keys {@code [slots, kvH, d]} bf16, dense
     * @param values as {@code keys}
     * @param slots int64 {@code [B, S]}: sequence b's cache slots in position order, then padding
     * @param lengths int32 {@code [B]}: each sequence's context length, 1..S (checked by the caller)
     * @param out {@code [B, H, d]} bf16, written
     * @return false, writing nothing, when another job holds the pool
     */
    static boolean tryRun(
            MemorySegment q,
            MemorySegment keys,
            MemorySegment values,
            MemorySegment slots,
            MemorySegment lengths,
            long b,
            long s,
            long heads,
            long kvHeads,
            long d,
            float scale,
            MemorySegment out) {
        if (!AVAILABLE) {
            throw new IllegalStateException("the decode attention kernel is off: " + UNAVAILABLE_BECAUSE);
        }
        if (heads % kvHeads != 0
                || d > MAX_HEAD_DIM
                || q.byteSize() < 2 * b * heads * d
                || out.byteSize() < 2 * b * heads * d
                || slots.byteSize() < 8 * b * s
                || lengths.byteSize() < 4 * b) {
            throw new IllegalArgumentException("decode attention: operands smaller than [" + b + ", " + heads + ", " + d
                    + "] queries over " + s + " slots");
        }
        return HostPool.SHARED.tryRun(
                new Job(q, keys, values, slots, lengths, b, s, heads, kvHeads, d, scale, out), false);
    }

    /** One (sequence, KV head) pair per chunk. */
    private record Job(
            MemorySegment q,
            MemorySegment keys,
            MemorySegment values,
            MemorySegment slots,
            MemorySegment lengths,
            long b,
            long s,
            long heads,
            long kvHeads,
            long d,
            float scale,
            MemorySegment out)
            implements HostPool.Job {
        @Override
        public int chunks() {
            return (int) (b * kvHeads);
        }

        @Override
        public void chunk(int c) {
            try {
                int rc = (int) NativeKernels.DECODE_ATTENTION.invokeExact(
                        q, keys, values, slots, lengths, s, heads, kvHeads, d, scale, out, (long) c, (long) c + 1);
                if (rc != 0) {
                    throw new IllegalStateException("jepd_bf16_decode_attention returned " + rc
                            + (rc == -1 ? " (no memory for its scores)" : ""));
                }
            } catch (Throwable e) {
                throw AotiShim.rethrow(e);
            }
        }
    }
}
