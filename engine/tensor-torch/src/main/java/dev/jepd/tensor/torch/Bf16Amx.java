package dev.jepd.tensor.torch;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * {@code y = x · Wᵀ + b} in bf16 for 2 to {@value #MAX_ROWS} rows of x on the CPU's AMX tiles: the products of a
 * batched decode step, where libtorch 2.7.1's oneDNN reads the weights at ~15 GB/s on the AMX machine of
 * docs/PERF.md against a ~20 GB/s read probe (this kernel: 19–22 GB/s at 8 rows). The kernel is JEPD's own C
 * ({@code src/main/c/jepd_kernels.c}, built into the jar by the module's build), called through Panama.
 *
 * <p>Each weight is multiplied exactly (bf16 × bf16 fits f32) and summed in f32, as oneDNN's AMX GEMM does; the bias
 * is added to the f32 sum and the result rounded once to bf16, as libtorch's bf16 {@code addmm} of several rows does
 * (it hands the bias to oneDNN; {@code Bf16AmxTest} holds the kernel to libtorch's answers). x is packed once per product
 * into the tiles' pair layout (a scratch buffer that only the holder of {@link HostPool} touches), then the weight
 * rows are shared by the pool's threads in chunks. A caller that finds the pool busy gets {@code false} and uses
 * libtorch.
 *
 * <p>{@link #AVAILABLE} is false, and nothing here is called, where the library was not built (not x86-64 Linux,
 * or built with {@code JEPD_KERNELS=skip}), where the CPU has no AMX-BF16 or Linux does not grant a process the
 * tile state, or with {@code -Djepd.amx=false} (for A/B runs).
 */
final class Bf16Amx {
    /** The most rows of x one product takes: one B tile holds 16 columns. */
    static final int MAX_ROWS = 16;

    /** Weight rows per chunk, a multiple of the kernel's 64-row block; fewer for small matrices (below). */
    private static final long CHUNK_ROWS = 512;

    private static final String RESOURCE = "linux-x86_64/libjepd_kernels.so";

    /** Why the kernel is off, or null when it is on; for the backend's description. */
    static final String UNAVAILABLE_BECAUSE;

    static final boolean AVAILABLE;

    private static final MethodHandle PACKED_BYTES;
    private static final MethodHandle PACK;
    private static final MethodHandle ROWS;

    static {
        MethodHandle packedBytes = null;
        MethodHandle pack = null;
        MethodHandle rows = null;
        String why = null;
        if ("false".equals(System.getProperty("jepd.amx"))) {
            why = "off (-Djepd.amx=false)";
        } else {
            try {
                SymbolLookup lib = load();
                if (lib == null) {
                    why = "not built for this platform";
                } else {
                    Linker linker = Linker.nativeLinker();
                    MethodHandle caps = linker.downcallHandle(
                            lib.findOrThrow("jepd_kernels_caps"), FunctionDescriptor.of(ValueLayout.JAVA_INT));
                    if (((int) caps.invokeExact() & 1) == 0) {
                        why = "no AMX-BF16 on this CPU (or not granted by the kernel)";
                    } else {
                        packedBytes = linker.downcallHandle(
                                lib.findOrThrow("jepd_bf16_packed_bytes"),
                                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
                        pack = linker.downcallHandle(
                                lib.findOrThrow("jepd_bf16_pack"),
                                FunctionDescriptor.ofVoid(
                                        ValueLayout.ADDRESS,
                                        ValueLayout.JAVA_LONG,
                                        ValueLayout.JAVA_INT,
                                        ValueLayout.JAVA_LONG,
                                        ValueLayout.ADDRESS));
                        rows = linker.downcallHandle(
                                lib.findOrThrow("jepd_bf16_linear_rows"),
                                FunctionDescriptor.of(
                                        ValueLayout.JAVA_INT,
                                        ValueLayout.ADDRESS, // w
                                        ValueLayout.JAVA_LONG, // K
                                        ValueLayout.ADDRESS, // xb
                                        ValueLayout.JAVA_INT, // M
                                        ValueLayout.ADDRESS, // bias or NULL
                                        ValueLayout.ADDRESS, // y
                                        ValueLayout.JAVA_LONG, // ldy
                                        ValueLayout.JAVA_LONG, // o0
                                        ValueLayout.JAVA_LONG)); // o1
                    }
                }
            } catch (Throwable e) { // a library that will not load must never stop the backend
                why = "failed to load: " + e;
            }
        }
        PACKED_BYTES = packedBytes;
        PACK = pack;
        ROWS = rows;
        UNAVAILABLE_BECAUSE = why;
        AVAILABLE = why == null;
    }

    /** The packed x, reused across products; touched only by the holder of {@link HostPool#SHARED}. */
    private static Arena scratchArena;

    private static MemorySegment scratch = MemorySegment.NULL;

    private Bf16Amx() {}

    /**
     * The library from the jar, through a temporary copy that is deleted once mapped (a loaded library needs no
     * file); null when the jar has none for this platform.
     */
    private static SymbolLookup load() throws IOException {
        if (!"Linux".equals(System.getProperty("os.name")) || !"amd64".equals(System.getProperty("os.arch"))) {
            return null;
        }
        try (InputStream in = Bf16Amx.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return null;
            }
            Path tmp = Files.createTempFile("jepd-kernels-", ".so");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                return SymbolLookup.libraryLookup(tmp, Arena.global());
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /**
     * Computes {@code y[m, o] = bf16(Σ_k x[m, k] · W[o, k])}, plus {@code bias[o]} rounded again, when the pool is
     * free.
     *
     * @param w {@code [out, in]} bf16, row-major
     * @param x {@code [rows, in]} bf16, row-major
     * @param rows 2 to {@value #MAX_ROWS}
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
        return HostPool.SHARED.tryRun(new Product(w, out, in, x, rows, bias, y), false);
    }

    /** At least two chunks per thread where the matrix allows, at most {@link #CHUNK_ROWS} rows each. */
    static long chunkRows(long out, int threads) {
        long per = out / (2L * threads) / 64 * 64;
        return Math.max(64, Math.min(CHUNK_ROWS, per));
    }

    private record Product(
            MemorySegment w, long out, long in, MemorySegment x, int rows, MemorySegment bias, MemorySegment y)
            implements HostPool.Job {
        @Override
        public void prepare() {
            try {
                long bytes = (long) PACKED_BYTES.invokeExact(in);
                if (scratch.byteSize() < bytes) {
                    if (scratchArena != null) {
                        scratchArena.close();
                    }
                    scratchArena = Arena.ofShared(); // the pool's workers read it
                    scratch = scratchArena.allocate(bytes, 64);
                }
                PACK.invokeExact(x, in, rows, in, scratch);
            } catch (Throwable e) {
                throw rethrow(e);
            }
        }

        @Override
        public int chunks() {
            long per = chunkRows(out, HostPool.SHARED.threads());
            return (int) ((out + per - 1) / per);
        }

        @Override
        public void chunk(int c) {
            long per = chunkRows(out, HostPool.SHARED.threads());
            long from = c * per;
            long to = Math.min(out, from + per);
            try {
                MemorySegment b = bias == null ? MemorySegment.NULL : bias;
                int rc = (int) ROWS.invokeExact(w, in, scratch, rows, b, y, out, from, to);
                if (rc != 0) {
                    throw new IllegalStateException("jepd_bf16_linear_rows returned " + rc);
                }
            } catch (Throwable e) {
                throw rethrow(e);
            }
        }
    }

    private static RuntimeException rethrow(Throwable e) {
        if (e instanceof RuntimeException r) {
            return r;
        }
        if (e instanceof Error err) {
            throw err;
        }
        if (e instanceof IOException io) {
            return new UncheckedIOException(io);
        }
        return new IllegalStateException(e);
    }
}
