package dev.jepd.tensor.torch;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code y = x · Wᵀ + b} in bf16 for many rows of x on the CPU's AMX tiles: the products of prefill and of the vision
 * tower, where libtorch 2.7.1's oneDNN runs at 1,100–1,500 GFLOP/s on the 2-core AMX machine of docs/PERF.md and the
 * tiles alone do ~4,000 (random data). The kernel is JEPD's own C ({@code jepd_bf16_gemm}, called through Panama): the
 * A tiles are loaded straight from x's rows where the rows are not a multiple of 4 KB apart (the last k step where k
 * is not a multiple of 32, and the last rows where they are not, from a copy: no tile reads past x), else x is
 * packed once per slab of rows into A tiles; each thread takes an equal share of the output columns, packs each
 * block of 256 weight rows into B tiles when it reaches it (prefetching the next), and writes y straight from the f32
 * sums. With {@link Epilogue#siluMulUp}, the gated MLP's gate and up are one pass, and y is their SiLU·mul.
 *
 * <p>Where the CPU has AVX-512 BF16 but no AMX ({@link #ON_AMX} false), the same jobs run on {@code vdpbf16ps}
 * ({@code jepd_bf16_gemm_avx512}): blocks of 64 weight rows packed in the same pair layout, each met by 6 rows of x
 * at a time, x's pairs broadcast from its own rows (never packed, so in one slab), 24 sums in registers; 750–770
 * GFLOP/s at the model's shapes on the 2-core AMD machine of docs/PERF.md, where oneDNN ran 550–690.
 *
 * <p>Each product of bf16 values is exact in f32 and the sums are f32, as oneDNN's; the order of the additions
 * differs, so a result can be one bf16 ulp from libtorch's ({@code Bf16AmxGemmTest} bounds it). The bias is added to
 * the f32 sum and rounded once, as libtorch's bf16 {@code addmm}.
 *
 * <p>Rows are taken a slab at a time ({@link #slabRows}), so the packed x (a scratch only the holder of {@link HostPool}
 * touches) stays bounded whatever the prompt or image; a caller that finds the pool busy gets {@code false} and
 * uses libtorch. {@link #AVAILABLE} says whether it runs here.
 */
final class Bf16AmxGemm {
    /**
     * Whether the kernel runs on AMX tiles; else on its AVX-512 BF16 build ({@code jepd_bf16_gemm_avx512}), which
     * reads x's rows in place only (there is no packed x for it).
     */
    static final boolean ON_AMX = NativeKernels.GEMM_PACK != null;

    /**
     * The fewest rows {@code TorchOps} hands this kernel. On AMX 256: with fewer, each weight block it packs serves
     * too few rows, and oneDNN was measured faster ({@code GemmShapeProbe}: 3.1 against 4.4 ms at {@code [32, 2048] ·
     * [11008, 2048]ᵀ}, 6.1 against 7.8 ms at 128 rows). On AVX-512 BF16 alone, the first row count past the few-row
     * kernel's ({@link NativeKernels#LINEAR_ROWS_MAX}): from there it outruns oneDNN (docs/PERF.md).
     */
    static final long MIN_ROWS = ON_AMX ? 256 : NativeKernels.LINEAR_ROWS_MAX + 1;

    /**
     * Whether the A tiles are loaded straight from x's rows where they are not a multiple of 4 KB apart ({@code
     * -Djepd.amx.gemm.direct=false} packs them first, for A/B runs).
     */
    static final boolean DIRECT = !"false".equals(System.getProperty("jepd.amx.gemm.direct"));

    /** The packed x of one slab of rows takes at most this (and at least {@link #MIN_ROWS} rows). */
    private static final long SLAB_BYTES = 16L << 20;

    /** Rows of x per slab for {@code in} inputs: 256 to 4,096, a multiple of 32, within {@link #SLAB_BYTES}. */
    static long slabRows(long in) {
        return Math.clamp(SLAB_BYTES / (2 * in) / 32 * 32, MIN_ROWS, 4096);
    }

    /** Why the kernel is off, or null when it is on. */
    static final String UNAVAILABLE_BECAUSE = NativeKernels.GEMM != null
            ? null
            : NativeKernels.AVX512_OFF_BECAUSE != null
                    ? NativeKernels.AVX512_OFF_BECAUSE
                    : NativeKernels.AMX_OFF_BECAUSE;

    static final boolean AVAILABLE = UNAVAILABLE_BECAUSE == null;

    /** The packed x, reused across products; touched only by the holder of {@link HostPool#SHARED}. */
    private static Arena scratchArena;

    private static MemorySegment scratch = MemorySegment.NULL;

    private Bf16AmxGemm() {}

    /**
     * What the kernel makes of the sums: {@code x · Wᵀ + b} ({@link #PLAIN}); its exact GELU ({@link #GELU}, libtorch's
     * {@code _addmm_activation}); or, with the up projection's {@code w2} and {@code b2}, the gated MLP's {@code
     * silu(x · Wᵀ + b) · (x · W2ᵀ + b2)}; rounded as libtorch's ops are.
     */
    record Epilogue(MemorySegment w2, MemorySegment b2, boolean gelu) {
        static final Epilogue PLAIN = new Epilogue(null, null, false);

        static final Epilogue GELU = new Epilogue(null, null, true);

        static Epilogue siluMulUp(MemorySegment upW, MemorySegment upB) {
            return new Epilogue(upW, upB, false);
        }
    }

    /**
     * Computes {@code y[m, o] = bf16(Σ_k x[m, k] · W[o, k] + bias[o])}, then {@code then}'s epilogue, when the pool
     * is free.
     *
     * @param w {@code [out, in]} bf16, row-major (the gate's, for {@link Epilogue#siluMulUp})
     * @param x {@code rows} rows of {@code in} bf16, {@code ldx} elements apart
     * @param bias {@code [out]} bf16, or {@code null}
     * @param y {@code [rows, out]} bf16, row-major, written
     * @return false, writing nothing, when another product holds the pool
     */
    static boolean tryRun(
            MemorySegment w,
            long out,
            long in,
            MemorySegment x,
            long ldx,
            long rows,
            MemorySegment bias,
            MemorySegment y,
            Epilogue then) {
        if (!AVAILABLE) {
            throw new IllegalStateException("the AMX GEMM is off: " + UNAVAILABLE_BECAUSE);
        }
        if (rows < 1 || in < 1 || out < 1 || ldx < in) {
            throw new IllegalArgumentException("bf16 AMX GEMM: bad shape [" + rows + ", " + in + "] (row stride " + ldx
                    + ") · [" + out + ", " + in + "]ᵀ");
        }
        if (w.byteSize() < 2 * out * in
                || x.byteSize() < 2 * ((rows - 1) * ldx + in)
                || y.byteSize() < 2 * rows * out
                || (bias != null && bias.byteSize() < 2 * out)
                || (then.w2() != null && then.w2().byteSize() < 2 * out * in)
                || (then.b2() != null && then.b2().byteSize() < 2 * out)) {
            throw new IllegalArgumentException(
                    "bf16 AMX GEMM: segments smaller than [" + rows + ", " + in + "] · [" + out + ", " + in + "]ᵀ");
        }
        int threads = HostPool.SHARED.threads();
        long per = chunkRows(out, threads);
        long slab = ON_AMX ? slabRows(in) : rows; // the AVX-512 build has no packed x to bound
        long slabs = (rows + slab - 1) / slab;
        // the A tiles straight from x's rows where they do not lie a multiple of 4 KB apart (16 rows in one L1 set:
        // [512, 2048] · [11008, 2048]ᵀ ran 7% slower so), else packed per slab
        boolean direct = !ON_AMX || (DIRECT && (2 * ldx) % 4096 != 0);
        List<HostPool.Job> jobs = new ArrayList<>();
        for (long s = 0; s < slabs; s++) {
            long m0 = s * slab;
            long m = Math.min(slab, rows - m0);
            MemorySegment xs = x.asSlice(2 * m0 * ldx);
            MemorySegment ys = y.asSlice(2 * m0 * out, 2 * m * out);
            if (!direct) {
                jobs.add(new Pack(xs, ldx, m, in, threads));
            }
            jobs.add(new Product(w, out, in, m, bias, ys, per, then, direct ? xs : null, direct ? ldx : 0));
        }
        return HostPool.SHARED.tryRunInOrder(false, jobs.toArray(HostPool.Job[]::new));
    }

    /**
     * Two chunks per thread of equal size, a multiple of 32 rows (the kernel's step; its blocks of 256 take a
     * shorter last block), so that no thread is left with a short last chunk while the other works on.
     */
    private static long chunkRows(long out, int threads) {
        long per = (out + 2L * threads - 1) / (2L * threads);
        return Math.max(32, (per + 31) / 32 * 32);
    }

    /** Packs a slab of x into the scratch, its 32-row blocks shared by the threads. */
    private record Pack(MemorySegment x, long ldx, long rows, long in, int threads) implements HostPool.RangeJob {
        @Override
        public void prepare() {
            try {
                long bytes = (long) NativeKernels.GEMM_PACKED_BYTES.invokeExact(rows, in);
                if (scratch.byteSize() < bytes) {
                    if (scratchArena != null) {
                        scratchArena.close();
                    }
                    scratchArena = Arena.ofShared(); // the pool's workers read it
                    scratch = scratchArena.allocate(bytes, 64);
                }
            } catch (Throwable e) {
                throw AotiShim.rethrow(e);
            }
        }

        /** The slab's 32-row blocks. */
        @Override
        public long total() {
            return (rows + 31) / 32;
        }

        /** As many pieces as threads (fewer for a small slab). */
        @Override
        public long per() {
            return (total() + threads - 1) / threads;
        }

        @Override
        public void range(long from, long to) {
            try {
                NativeKernels.GEMM_PACK.invokeExact(x, ldx, rows, in, scratch, from, to);
            } catch (Throwable e) {
                throw AotiShim.rethrow(e);
            }
        }
    }

    /** The product of the packed slab and its epilogue; {@code per} output columns per chunk. */
    private record Product(
            MemorySegment w,
            long out,
            long in,
            long rows,
            MemorySegment bias,
            MemorySegment y,
            long per,
            Epilogue then,
            MemorySegment x,
            long ldx)
            implements HostPool.RangeJob {
        @Override
        public long total() {
            return out;
        }

        @Override
        public void range(long from, long to) {
            MemorySegment b = NativeKernels.orNull(bias);
            MemorySegment a = x != null ? x : scratch;
            try {
                int rc;
                if (then.w2() != null) {
                    rc = (int) NativeKernels.GEMM_SILU_MUL.invokeExact(
                            a, ldx, rows, in, w, b, then.w2(), NativeKernels.orNull(then.b2()), y, out, from, to);
                } else if (then.gelu()) {
                    rc = (int) NativeKernels.GEMM_GELU.invokeExact(a, ldx, rows, in, w, b, y, out, from, to);
                } else {
                    rc = (int) NativeKernels.GEMM.invokeExact(a, ldx, rows, in, w, b, y, out, from, to);
                }
                if (rc != 0) {
                    throw new IllegalStateException("jepd_bf16_gemm: out of memory for its scratch");
                }
            } catch (Throwable e) {
                throw AotiShim.rethrow(e);
            }
        }
    }
}
