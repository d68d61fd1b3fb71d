package dev.jepd.tensor.torch;

import java.lang.foreign.MemorySegment;

/**
 * Element-wise bf16 ops in one pass of JEPD's own AVX-512 kernels ({@link NativeKernels}) where libtorch composes
 * several kernels that each read and write the whole tensor: {@code silu(gate) · up} (two), the rotary embedding
 * (four, after the swap and the signed table) and the residual add with the next RMSNorm (an add, then {@link
 * Bf16Rows}' pass). Each rounds to bf16 exactly where libtorch's composition rounds, so
 * the results are libtorch's up to the last bit of {@code e^x} (a polynomial within ~1 ulp of f32 here, Sleef's
 * there) and the order of RMSNorm's f32 sum of squares.
 *
 * <p>Large ops are cut into chunks for {@link HostPool}'s threads; small ones, and any that find the pool busy, run on
 * the caller alone (the kernels keep no state).
 */
final class Bf16Elementwise {
    /** Why the kernels are off ({@link NativeKernels}), or null when they are on. */
    static final String UNAVAILABLE_BECAUSE = NativeKernels.AVX512_OFF_BECAUSE;

    static final boolean AVAILABLE = UNAVAILABLE_BECAUSE == null;

    /** Elements per chunk, and below which an op runs on the caller alone (waking a worker costs more). */
    private static final long CHUNK_ELEMENTS = 1 << 15;

    private Bf16Elementwise() {}

    /** {@code out = bf16(bf16(silu(gate)) · up)} over {@code n} elements of dense bf16 segments. */
    static void siluMul(MemorySegment gate, MemorySegment up, MemorySegment out, long n) {
        if (gate.byteSize() < 2 * n || up.byteSize() < 2 * n || out.byteSize() < 2 * n) {
            throw new IllegalArgumentException("silu·mul: segments smaller than " + n + " elements");
        }
        // a statement, not an expression lambda: invokeExact's call site must be typed void
        run(n, 1, (from, to) -> {
            NativeKernels.SILU_MUL.invokeExact(gate, up, out, from, to);
        });
    }

    /**
     * Rotary embedding over {@code x}'s rows of {@code d} elements into {@code out}'s, with {@code cos} and {@code sin}
     * indexed as x's rows (broadcast by zero strides); see {@link Bf16Rows.Rows} for the row layout.
     */
    static void rotary(Bf16Rows.Rows x, Bf16Rows.Rows cos, Bf16Rows.Rows sin, Bf16Rows.Rows out, long d) {
        long rows = x.rows();
        if (out.rows() != rows || d % 2 != 0) {
            throw new IllegalArgumentException("rotary: " + rows + " rows of " + d + " into " + out.rows());
        }
        run(rows, d, (from, to) -> {
            NativeKernels.ROTARY.invokeExact(
                    x.seg(),
                    x.outerStride(),
                    x.innerStride(),
                    cos.seg(),
                    cos.outerStride(),
                    cos.innerStride(),
                    sin.seg(),
                    sin.outerStride(),
                    sin.innerStride(),
                    out.seg(),
                    out.outerStride(),
                    out.innerStride(),
                    x.inner(),
                    d,
                    from,
                    to);
        });
    }

    /**
     * The residual add and RMSNorm over {@code rows} dense rows of {@code d}: {@code sum = bf16(x + y)}, {@code out =
     * bf16(w · bf16(sum · rsqrt(mean(sum²) + eps)))} ({@code jepd_bf16_add_rms_norm}).
     */
    static void addRmsNorm(
            MemorySegment x,
            MemorySegment y,
            MemorySegment w,
            long rows,
            long d,
            float eps,
            MemorySegment sum,
            MemorySegment out) {
        long bytes = 2 * rows * d;
        if (x.byteSize() < bytes
                || y.byteSize() < bytes
                || sum.byteSize() < bytes
                || out.byteSize() < bytes
                || w.byteSize() < 2 * d) {
            throw new IllegalArgumentException("add·RMSNorm: segments smaller than " + rows + " rows of " + d);
        }
        run(rows, d, (from, to) -> {
            NativeKernels.ADD_RMS_NORM.invokeExact(x, y, w, d, eps, sum, out, from, to);
        });
    }

    @FunctionalInterface
    private interface Range {
        void run(long from, long to) throws Throwable;
    }

    /** {@code items} items of {@code width} elements each, in chunks over the pool's threads, or on the caller. */
    private static void run(long items, long width, Range range) {
        long per = Math.max(1, CHUNK_ELEMENTS / Math.max(1, width));
        long chunks = (items + per - 1) / per;
        HostPool.Job job = HostPool.RangeJob.of(items, per, (from, to) -> call(range, from, to));
        if (chunks < 2 || chunks > Integer.MAX_VALUE || !HostPool.SHARED.tryRun(job, false)) {
            call(range, 0, items);
        }
    }

    private static void call(Range range, long from, long to) {
        try {
            range.run(from, to);
        } catch (Throwable e) {
            throw AotiShim.rethrow(e);
        }
    }
}
