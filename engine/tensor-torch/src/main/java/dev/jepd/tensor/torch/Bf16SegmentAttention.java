package dev.jepd.tensor.torch;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Attention within short segments of tokens (the vision tower's windows: 64 tokens each at Qwen2.5-VL's window of
 * 112 pixels) on the CPU's AMX tiles, in JEPD's own kernel ({@link NativeKernels}): for each segment and head, the
 * scores {@code Q Kᵀ} as tile products, the softmax in AVX-512 with the tiles released, then {@code P V} as tile
 * products. libtorch's CPU flash attention takes 2.7–5.9 ms for the 16 windows × 16 heads of one Qwen2.5-VL-3B
 * vision block on the Intel machine of docs/PERF.md, 0.34 GFLOP. Where AMX does not run (AMD's Zen 4 and 5), the
 * same kernel multiplies the same tiles with AVX-512 BF16's {@code vdpbf16ps}.
 *
 * <p>Numerics, as libtorch's CPU flash attention in bf16 up to the order of sums: scores are sums of exact bf16
 * products in f32, scaled; the softmax is f32; its terms are rounded to bf16 for the weighted sum of the value rows
 * (f32), which is divided by the f32 sum of the terms and rounded once. The (segment, head) pairs are shared by
 * {@link HostPool}'s threads; a caller that finds the pool busy gets {@code false} and uses libtorch.
 */
final class Bf16SegmentAttention {
    /** Why the kernel is off ({@link NativeKernels}), or null when it is on. */
    static final String UNAVAILABLE_BECAUSE =
            NativeKernels.SEGMENT_ATTENTION != null ? null : NativeKernels.AVX512_OFF_BECAUSE;

    static final boolean AVAILABLE = UNAVAILABLE_BECAUSE == null;

    /** The longest segment the kernel takes; longer ones (a full-attention block's frame) go to libtorch. */
    static final int MAX_SEGMENT = 256;

    /** The largest head size it takes. */
    static final long MAX_HEAD_DIM = 128;

    private Bf16SegmentAttention() {}

    /** Whether the kernel takes segments {@code cuSeqlens} (from 0 to {@code n}) with head size {@code d}. */
    static boolean takes(int[] cuSeqlens, long n, long d) {
        if (!AVAILABLE || d < 1 || d > MAX_HEAD_DIM || cuSeqlens.length < 2 || cuSeqlens[0] != 0) {
            return false;
        }
        for (int i = 1; i < cuSeqlens.length; i++) {
            int len = cuSeqlens[i] - cuSeqlens[i - 1];
            if (len < 0 || len > MAX_SEGMENT) {
                return false;
            }
        }
        return cuSeqlens[cuSeqlens.length - 1] == n;
    }

    /**
     * The rotary embedding on q and k before the attention ({@code jepd_bf16_rotary}'s numerics), folded into the
     * kernel: token t's angles at element {@code t · cosStride} of {@code cos} and {@code t · sinStride} of {@code
     * sin}, d of each, shared by the heads.
     */
    record Rotary(MemorySegment cos, long cosStride, MemorySegment sin, long sinStride) {}

    /**
     * @param kernel {@link NativeKernels#SEGMENT_ATTENTION} (AMX where it runs), or its AVX-512 build
     * @param q element (h, t, e) at {@code h · qs[0] + t · qs[1] + e}, bf16, {@code heads × n × d}
     * @param qs q's strides (heads, tokens), in elements; k, ks, v, vs alike
     * @param rotary the rotary embedding to give q and k first, or null for none
     * @param cu int32 segment bounds {@code [segs + 1]}, from 0 to n ({@link #takes})
     * @param out {@code heads × n × d} bf16 written at {@code h · os[0] + t · os[1] + e}
     * @return false, writing nothing, when another job holds the pool
     */
    static boolean tryRun(
            MethodHandle kernel,
            MemorySegment q,
            long[] qs,
            MemorySegment k,
            long[] ks,
            MemorySegment v,
            long[] vs,
            Rotary rotary,
            MemorySegment cu,
            long segs,
            long heads,
            long n,
            long d,
            float scale,
            MemorySegment out,
            long[] os) {
        if (kernel == null) {
            throw new IllegalStateException("the segment attention kernel is off: " + UNAVAILABLE_BECAUSE);
        }
        if (out.byteSize() < Bf16Rows.Rows.extentBytes(heads, os[0], n, os[1], d)
                || cu.byteSize() < 4 * (segs + 1)
                || (rotary != null
                        && (d % 2 != 0
                                || rotary.cos().byteSize() < Bf16Rows.Rows.extentBytes(n, rotary.cosStride(), 1, 0, d)
                                || rotary.sin().byteSize()
                                        < Bf16Rows.Rows.extentBytes(n, rotary.sinStride(), 1, 0, d)))) {
            throw new IllegalArgumentException("segment attention: operands smaller than [" + heads + ", " + n + ", "
                    + d + "] over " + segs + " segments");
        }
        Rotary r = rotary != null ? rotary : new Rotary(MemorySegment.NULL, 0, MemorySegment.NULL, 0);
        return HostPool.SHARED.tryRun(
                new Job(kernel, q, qs, k, ks, v, vs, r, cu, segs, heads, n, d, scale, out, os), false);
    }

    /** Several (segment, head) pairs per chunk, about 8 chunks per thread. */
    private record Job(
            MethodHandle kernel,
            MemorySegment q,
            long[] qs,
            MemorySegment k,
            long[] ks,
            MemorySegment v,
            long[] vs,
            Rotary rotary,
            MemorySegment cu,
            long segs,
            long heads,
            long n,
            long d,
            float scale,
            MemorySegment out,
            long[] os)
            implements HostPool.RangeJob {
        @Override
        public long total() {
            return segs * heads;
        }

        @Override
        public long per() {
            return Math.max(1, segs * heads / (8L * HostPool.SHARED.threads()));
        }

        @Override
        public void range(long from, long to) {
            try {
                int rc = (int) kernel.invokeExact(
                        q,
                        qs[0],
                        qs[1],
                        k,
                        ks[0],
                        ks[1],
                        v,
                        vs[0],
                        vs[1],
                        rotary.cos(),
                        rotary.cosStride(),
                        rotary.sin(),
                        rotary.sinStride(),
                        cu,
                        heads,
                        d,
                        scale,
                        out,
                        os[0],
                        os[1],
                        n,
                        from,
                        to);
                if (rc != 0) {
                    throw new IllegalStateException("jepd_bf16_segment_attention returned " + rc
                            + (rc == -1 ? " (no memory for its scratch)" : " (a segment past the kernel's limits)"));
                }
            } catch (Throwable e) {
                throw AotiShim.rethrow(e);
            }
        }
    }
}
