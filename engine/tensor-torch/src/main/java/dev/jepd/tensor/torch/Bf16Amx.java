package dev.jepd.tensor.torch;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * {@code y = x · Wᵀ + b} in bf16 for 2 to {@link #MAX_ROWS} rows of x on the CPU's AMX tiles: the products of a
 * batched decode step, where libtorch 2.7.1's oneDNN reads the weights at ~15 GB/s on the AMX machine of
 * docs/PERF.md against a ~20 GB/s read probe (this kernel: 19–22 GB/s at 8 rows). The kernel is JEPD's own C,
 * called through Panama ({@link NativeKernels}).
 *
 * <p>Each weight is multiplied exactly (bf16 × bf16 fits f32) and summed in f32, as oneDNN's AMX GEMM does; the bias
 * is added to the f32 sum and the result rounded once to bf16, as libtorch's bf16 {@code addmm} of several rows does
 * (it hands the bias to oneDNN; {@code Bf16AmxTest} holds the kernel to libtorch's answers). x is packed once per product
 * into the tiles' pair layout (a scratch buffer that only the holder of {@link HostPool} touches), then the weight
 * rows are shared by the pool's threads in chunks. A caller that finds the pool busy gets {@code false} and uses
 * libtorch.
 *
 * <p>Where AMX does not run (AMD's Zen 4 and 5), the kernel's AVX-512 BF16 build ({@code vdpbf16ps}) takes x copied
 * as rows and rounds the same way, up to 64 rows: at 8 rows it reads the weights at 35–40 GB/s on the AMD machine of
 * docs/PERF.md, where oneDNN read them at ~13 GB/s; at 32 rows, where the products bound the time, at ~600 GFLOP/s in
 * its C harness (~540 in the JVM's LM head) against oneDNN's ~340. {@link #AVAILABLE} says whether it runs here
 * ({@link NativeKernels} says when it does not).
 */
final class Bf16Amx {
    /** The most rows of x one product takes: 16 on AMX (one B tile holds 16 columns), 64 on AVX-512 BF16 alone. */
    static final int MAX_ROWS = NativeKernels.LINEAR_ROWS_MAX;

    /** Weight rows per chunk, a multiple of the kernel's 64-row block; fewer for small matrices (below). */
    private static final long CHUNK_ROWS = 512;

    /** Why the kernel is off ({@link NativeKernels}), or null when it is on. */
    static final String UNAVAILABLE_BECAUSE =
            NativeKernels.LINEAR_ROWS != null ? null : NativeKernels.AVX512_OFF_BECAUSE;

    static final boolean AVAILABLE = UNAVAILABLE_BECAUSE == null;

    /** The packed x, reused across products; touched only by the holder of {@link HostPool#SHARED}. */
    private static Arena scratchArena;

    private static MemorySegment scratch = MemorySegment.NULL;

    private Bf16Amx() {}

    /**
     * Computes {@code y[m, o] = bf16(Σ_k x[m, k] · W[o, k] + bias[o])} when the pool is free.
     *
     * @param w {@code [out, in]} bf16, row-major
     * @param x {@code [rows, in]} bf16, row-major
     * @param rows 1 to {@link #MAX_ROWS}
     * @param bias {@code [out]} bf16, or {@code null}
     * @param y {@code [rows, out]} bf16, written
     * @return false, writing nothing, when another product holds the pool
     */
    static boolean tryRun(
            MemorySegment w, long out, long in, MemorySegment x, int rows, MemorySegment bias, MemorySegment y) {
        if (!AVAILABLE) {
            throw new IllegalStateException("the AMX kernel is off: " + UNAVAILABLE_BECAUSE);
        }
        if (rows < 1 || rows > MAX_ROWS) {
            throw new IllegalArgumentException("rows " + rows + " outside 1.." + MAX_ROWS);
        }
        if (w.byteSize() < 2 * out * in
                || x.byteSize() < 2 * rows * in
                || y.byteSize() < 2 * rows * out
                || (bias != null && bias.byteSize() < 2 * out)) {
            throw new IllegalArgumentException(
                    "bf16 AMX product: segments smaller than [" + rows + ", " + in + "] · [" + out + ", " + in + "]ᵀ");
        }
        long per = chunkRows(out, HostPool.SHARED.threads());
        return HostPool.SHARED.tryRun(new Product(w, out, in, x, rows, bias, y, per), false);
    }

    /** At least two chunks per thread where the matrix allows, at most {@link #CHUNK_ROWS} rows each. */
    private static long chunkRows(long out, int threads) {
        long per = out / (2L * threads) / 64 * 64;
        return Math.max(64, Math.min(CHUNK_ROWS, per));
    }

    /** One product; {@code per} weight rows per chunk. */
    private record Product(
            MemorySegment w,
            long out,
            long in,
            MemorySegment x,
            int rows,
            MemorySegment bias,
            MemorySegment y,
            long per)
            implements HostPool.RangeJob {
        @Override
        public void prepare() {
            try {
                long bytes = (long) NativeKernels.PACKED_BYTES.invokeExact(rows, in);
                if (scratch.byteSize() < bytes) {
                    if (scratchArena != null) {
                        scratchArena.close();
                    }
                    scratchArena = Arena.ofShared(); // the pool's workers read it
                    scratch = scratchArena.allocate(bytes, 64);
                }
                NativeKernels.PACK.invokeExact(x, in, rows, in, scratch);
            } catch (Throwable e) {
                throw AotiShim.rethrow(e);
            }
        }

        @Override
        public long total() {
            return out;
        }

        @Override
        public void range(long from, long to) {
            try {
                int rc = (int) NativeKernels.LINEAR_ROWS.invokeExact(
                        w, in, scratch, rows, NativeKernels.orNull(bias), y, out, from, to);
                if (rc != 0) {
                    throw new IllegalStateException("jepd_bf16_linear_rows returned " + rc);
                }
            } catch (Throwable e) {
                throw AotiShim.rethrow(e);
            }
        }
    }
}
