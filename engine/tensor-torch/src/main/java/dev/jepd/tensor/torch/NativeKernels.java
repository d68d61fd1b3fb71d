package dev.jepd.tensor.torch;

import java.io.IOException;
import java.io.InputStream;
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
 * JEPD's own CPU kernels ({@code src/main/c/jepd_kernels.c}, compiled into the jar by the module's build), reached
 * through Panama: the library, what this CPU lets it run, and its functions. {@link Bf16Amx}, {@link Bf16AmxGemm},
 * {@link Bf16DecodeAttention}, {@link Bf16SegmentAttention} and {@link Bf16Elementwise} use them.
 *
 * <p>A kernel is off, and nothing of it is called, where the library was not built (not x86-64 Linux, or built with
 * {@code JEPD_KERNELS=skip}), where the CPU lacks its instructions (AMX-BF16 for the products, AVX-512 BF16 for the
 * attention, SiLU·mul and rotary) or Linux does not grant a process the tile state, or with {@code -Djepd.amx=false}
 * (for A/B runs; the AVX-512 kernels have switches of their own in {@link TorchOps}). Loading never throws: a library that will not load leaves
 * every kernel off, and libtorch takes their work.
 */
final class NativeKernels {
    private static final String RESOURCE = "linux-x86_64/libjepd_kernels.so";
    private static final int CAP_AMX_BF16 = 1;
    private static final int CAP_AVX512_BF16 = 2;

    /** Why the AMX products are off, or null when they are on. */
    static final String AMX_OFF_BECAUSE;

    /** Why the AVX-512 kernels (decode attention, SiLU·mul, rotary) are off, or null when they are on. */
    static final String AVX512_OFF_BECAUSE;

    static final MethodHandle PACKED_BYTES;
    static final MethodHandle PACK;

    /**
     * The products of 2 to {@link #LINEAR_ROWS_MAX} rows ({@link Bf16Amx}), with x from {@link #PACK}: on AMX tiles
     * where AMX runs, else their AVX-512 BF16 build (x copied as rows); null where AVX-512 BF16 is off.
     */
    static final MethodHandle LINEAR_ROWS;

    /**
     * The most rows {@link #LINEAR_ROWS} takes: 16 on AMX (one B tile's columns), 64 on AVX-512 BF16 alone (its
     * {@code ROWS_AVX512_MAX}; from 17 rows on it outran oneDNN up to 64 on the AMD machine of docs/PERF.md, where
     * there is no AMX GEMM to hand the products to).
     */
    static final int LINEAR_ROWS_MAX;

    static final MethodHandle DECODE_ATTENTION;

    /** A prompt's causal attention over its keys ({@link Bf16CausalAttention}); null where AVX-512 BF16 is off. */
    static final MethodHandle CAUSAL_ATTENTION;

    static final MethodHandle SILU_MUL;
    static final MethodHandle ROTARY;

    /** The residual add and RMSNorm in one pass ({@link Bf16Elementwise}); null where AVX-512 BF16 is off. */
    static final MethodHandle ADD_RMS_NORM;

    /**
     * Attention within the vision windows ({@link Bf16SegmentAttention}): on AMX tiles where AMX runs, else its
     * AVX-512 BF16 build ({@link #SEGMENT_ATTENTION_AVX512}); null where AVX-512 BF16 is off.
     */
    static final MethodHandle SEGMENT_ATTENTION;

    /** The same attention's AVX-512 BF16 build, whether or not AMX runs (tests hold it to the AMX one); or null. */
    static final MethodHandle SEGMENT_ATTENTION_AVX512;

    /**
     * x packed for the AMX GEMM ({@link Bf16AmxGemm}); null where AMX is off (the AVX-512 build reads x in place
     * only).
     */
    static final MethodHandle GEMM_PACKED_BYTES;

    static final MethodHandle GEMM_PACK;

    /**
     * The products of many rows ({@link Bf16AmxGemm}): on AMX tiles where AMX runs, else their AVX-512 BF16 build
     * ({@code jepd_bf16_gemm_avx512}, x read in place); null where AVX-512 BF16 is off.
     */
    static final MethodHandle GEMM;

    static final MethodHandle GEMM_SILU_MUL;

    /** {@code jepd_bf16_gemm_gelu}: {@link #GEMM}'s arguments, the exact GELU of each rounded sum. */
    static final MethodHandle GEMM_GELU;

    /**
     * {@code jepd_bf16_packed_bytes(M, K)} and {@code jepd_bf16_pack} (or their {@code _rows} builds): x for the
     * few-row product.
     */
    private static final FunctionDescriptor PACKED_BYTES_ARGS =
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG);

    private static final FunctionDescriptor PACK_ARGS = FunctionDescriptor.ofVoid(
            ValueLayout.ADDRESS,
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT,
            ValueLayout.JAVA_LONG,
            ValueLayout.ADDRESS);

    /** The few-row product's arguments, for its AMX and its AVX-512 build alike. */
    private static final FunctionDescriptor ROWS_ARGS = FunctionDescriptor.of(
            ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, // w
            ValueLayout.JAVA_LONG, // K
            ValueLayout.ADDRESS, // xb
            ValueLayout.JAVA_INT, // M
            ValueLayout.ADDRESS, // bias or NULL
            ValueLayout.ADDRESS, // y
            ValueLayout.JAVA_LONG, // ldy
            ValueLayout.JAVA_LONG, // o0
            ValueLayout.JAVA_LONG); // o1

    /** The segment attention's arguments, for its AMX and its AVX-512 build alike. */
    private static final FunctionDescriptor SEGMENT_ARGS = FunctionDescriptor.of(
            ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, // q
            ValueLayout.JAVA_LONG, // q's head stride
            ValueLayout.JAVA_LONG, // q's token stride
            ValueLayout.ADDRESS, // k
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG,
            ValueLayout.ADDRESS, // v
            ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_LONG,
            ValueLayout.ADDRESS, // cos or NULL
            ValueLayout.JAVA_LONG, // cos's token stride
            ValueLayout.ADDRESS, // sin or NULL
            ValueLayout.JAVA_LONG, // sin's token stride
            ValueLayout.ADDRESS, // cu int32 [segs + 1]
            ValueLayout.JAVA_LONG, // H
            ValueLayout.JAVA_LONG, // d
            ValueLayout.JAVA_FLOAT, // scale
            ValueLayout.ADDRESS, // out
            ValueLayout.JAVA_LONG, // out's head stride
            ValueLayout.JAVA_LONG, // out's token stride
            ValueLayout.JAVA_LONG, // N
            ValueLayout.JAVA_LONG, // job0
            ValueLayout.JAVA_LONG); // job1

    /** The many-row product's arguments ({@code jepd_bf16_gemm} and {@code _gemm_gelu}, AMX and AVX-512 builds). */
    private static final FunctionDescriptor GEMM_ARGS = FunctionDescriptor.of(
            ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, // xp: x packed, or x itself
            ValueLayout.JAVA_LONG, // ldx: 0 for packed (AMX only), else x's row stride
            ValueLayout.JAVA_LONG, // M
            ValueLayout.JAVA_LONG, // K
            ValueLayout.ADDRESS, // w
            ValueLayout.ADDRESS, // bias or NULL
            ValueLayout.ADDRESS, // y
            ValueLayout.JAVA_LONG, // ldy
            ValueLayout.JAVA_LONG, // n0
            ValueLayout.JAVA_LONG); // n1

    /** {@code jepd_bf16_gemm_silu_mul}'s arguments (AMX and AVX-512 builds). */
    private static final FunctionDescriptor GEMM_SILU_MUL_ARGS = FunctionDescriptor.of(
            ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, // xp: x packed, or x itself
            ValueLayout.JAVA_LONG, // ldx: 0 for packed (AMX only), else x's row stride
            ValueLayout.JAVA_LONG, // M
            ValueLayout.JAVA_LONG, // K
            ValueLayout.ADDRESS, // gate weight
            ValueLayout.ADDRESS, // gate bias or NULL
            ValueLayout.ADDRESS, // up weight
            ValueLayout.ADDRESS, // up bias or NULL
            ValueLayout.ADDRESS, // y
            ValueLayout.JAVA_LONG, // ldy
            ValueLayout.JAVA_LONG, // n0
            ValueLayout.JAVA_LONG); // n1

    static {
        MethodHandle packedBytes = null;
        int rowsMax = 16;
        MethodHandle pack = null;
        MethodHandle rows = null;
        MethodHandle attention = null;
        MethodHandle causal = null;
        MethodHandle siluMul = null;
        MethodHandle rotary = null;
        MethodHandle addRmsNorm = null;
        MethodHandle segmentAttention = null;
        MethodHandle segmentAvx512 = null;
        MethodHandle gemmBytes = null;
        MethodHandle gemmPack = null;
        MethodHandle gemm = null;
        MethodHandle gemmSiluMul = null;
        MethodHandle gemmGelu = null;
        String amxOff = null;
        String avx512Off = null;
        try {
            SymbolLookup lib = load();
            if (lib == null) {
                amxOff = avx512Off = "not built for this platform";
            } else {
                Linker linker = Linker.nativeLinker();
                MethodHandle capsHandle = linker.downcallHandle(
                        lib.findOrThrow("jepd_kernels_caps"), FunctionDescriptor.of(ValueLayout.JAVA_INT));
                int caps = (int) capsHandle.invokeExact();
                if ((caps & CAP_AMX_BF16) == 0) {
                    amxOff = "no AMX-BF16 on this CPU (or not granted by the kernel)";
                } else if ("false".equals(System.getProperty("jepd.amx"))) {
                    amxOff = "off (-Djepd.amx=false)";
                } else {
                    packedBytes = linker.downcallHandle(lib.findOrThrow("jepd_bf16_packed_bytes"), PACKED_BYTES_ARGS);
                    pack = linker.downcallHandle(lib.findOrThrow("jepd_bf16_pack"), PACK_ARGS);
                    rows = linker.downcallHandle(lib.findOrThrow("jepd_bf16_linear_rows"), ROWS_ARGS);
                    if ((caps & CAP_AVX512_BF16) != 0) { // the GEMM packs and rounds with AVX-512
                        gemmBytes = linker.downcallHandle(
                                lib.findOrThrow("jepd_bf16_gemm_packed_bytes"),
                                FunctionDescriptor.of(
                                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
                        gemmPack = linker.downcallHandle(
                                lib.findOrThrow("jepd_bf16_gemm_pack"),
                                FunctionDescriptor.ofVoid(
                                        ValueLayout.ADDRESS, // x
                                        ValueLayout.JAVA_LONG, // ldx
                                        ValueLayout.JAVA_LONG, // M
                                        ValueLayout.JAVA_LONG, // K
                                        ValueLayout.ADDRESS, // xp
                                        ValueLayout.JAVA_LONG, // mb0
                                        ValueLayout.JAVA_LONG)); // mb1
                        gemm = linker.downcallHandle(lib.findOrThrow("jepd_bf16_gemm"), GEMM_ARGS);
                        gemmGelu = linker.downcallHandle(lib.findOrThrow("jepd_bf16_gemm_gelu"), GEMM_ARGS);
                        segmentAttention =
                                linker.downcallHandle(lib.findOrThrow("jepd_bf16_segment_attention"), SEGMENT_ARGS);
                        gemmSiluMul =
                                linker.downcallHandle(lib.findOrThrow("jepd_bf16_gemm_silu_mul"), GEMM_SILU_MUL_ARGS);
                    }
                }
                if ((caps & CAP_AVX512_BF16) == 0) {
                    avx512Off = "no AVX-512 BF16 on this CPU";
                } else {
                    attention = linker.downcallHandle(
                            lib.findOrThrow("jepd_bf16_decode_attention"),
                            FunctionDescriptor.of(
                                    ValueLayout.JAVA_INT,
                                    ValueLayout.ADDRESS, // q [B, H, d]
                                    ValueLayout.ADDRESS, // key cache [slots, kvH, d]
                                    ValueLayout.ADDRESS, // value cache
                                    ValueLayout.ADDRESS, // slots int64 [B, S]
                                    ValueLayout.ADDRESS, // lengths int32 [B]
                                    ValueLayout.JAVA_LONG, // S
                                    ValueLayout.JAVA_LONG, // H
                                    ValueLayout.JAVA_LONG, // kvH
                                    ValueLayout.JAVA_LONG, // d
                                    ValueLayout.JAVA_FLOAT, // scale
                                    ValueLayout.ADDRESS, // out [B, H, d]
                                    ValueLayout.JAVA_LONG, // job0
                                    ValueLayout.JAVA_LONG)); // job1
                    causal = linker.downcallHandle(
                            lib.findOrThrow("jepd_bf16_causal_attention"),
                            FunctionDescriptor.of(
                                    ValueLayout.JAVA_INT,
                                    ValueLayout.ADDRESS, // q
                                    ValueLayout.JAVA_LONG, // q's head stride
                                    ValueLayout.JAVA_LONG, // q's token stride
                                    ValueLayout.ADDRESS, // k
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.ADDRESS, // v
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG, // n
                                    ValueLayout.JAVA_LONG, // S
                                    ValueLayout.JAVA_LONG, // q0
                                    ValueLayout.JAVA_LONG, // H
                                    ValueLayout.JAVA_LONG, // kvH
                                    ValueLayout.JAVA_LONG, // d
                                    ValueLayout.JAVA_FLOAT, // scale
                                    ValueLayout.ADDRESS, // out
                                    ValueLayout.JAVA_LONG, // out's head stride
                                    ValueLayout.JAVA_LONG, // out's token stride
                                    ValueLayout.JAVA_LONG, // job0
                                    ValueLayout.JAVA_LONG)); // job1
                    siluMul = linker.downcallHandle(
                            lib.findOrThrow("jepd_bf16_silu_mul"),
                            FunctionDescriptor.ofVoid(
                                    ValueLayout.ADDRESS, // gate
                                    ValueLayout.ADDRESS, // up
                                    ValueLayout.ADDRESS, // out
                                    ValueLayout.JAVA_LONG, // i0
                                    ValueLayout.JAVA_LONG)); // i1
                    addRmsNorm = linker.downcallHandle(
                            lib.findOrThrow("jepd_bf16_add_rms_norm"),
                            FunctionDescriptor.ofVoid(
                                    ValueLayout.ADDRESS, // x
                                    ValueLayout.ADDRESS, // y
                                    ValueLayout.ADDRESS, // w
                                    ValueLayout.JAVA_LONG, // d
                                    ValueLayout.JAVA_FLOAT, // eps
                                    ValueLayout.ADDRESS, // sum
                                    ValueLayout.ADDRESS, // out
                                    ValueLayout.JAVA_LONG, // r0
                                    ValueLayout.JAVA_LONG)); // r1
                    rotary = linker.downcallHandle(
                            lib.findOrThrow("jepd_bf16_rotary"),
                            FunctionDescriptor.ofVoid(
                                    ValueLayout.ADDRESS, // x
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.ADDRESS, // cos
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.ADDRESS, // sin
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.ADDRESS, // out
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG, // inner
                                    ValueLayout.JAVA_LONG, // d
                                    ValueLayout.JAVA_LONG, // r0
                                    ValueLayout.JAVA_LONG)); // r1
                    segmentAvx512 =
                            linker.downcallHandle(lib.findOrThrow("jepd_bf16_segment_attention_avx512"), SEGMENT_ARGS);
                    if (segmentAttention == null) {
                        segmentAttention = segmentAvx512;
                    }
                    if (rows == null) { // no AMX: the few-row products on AVX-512 BF16, x copied as rows
                        packedBytes = linker.downcallHandle(
                                lib.findOrThrow("jepd_bf16_packed_rows_bytes"), PACKED_BYTES_ARGS);
                        pack = linker.downcallHandle(lib.findOrThrow("jepd_bf16_pack_rows"), PACK_ARGS);
                        rows = linker.downcallHandle(lib.findOrThrow("jepd_bf16_linear_rows_avx512"), ROWS_ARGS);
                        rowsMax = 64;
                    }
                    if (gemm == null) { // no AMX: the products of many rows on AVX-512 BF16, x read in place
                        gemm = linker.downcallHandle(lib.findOrThrow("jepd_bf16_gemm_avx512"), GEMM_ARGS);
                        gemmGelu = linker.downcallHandle(lib.findOrThrow("jepd_bf16_gemm_gelu_avx512"), GEMM_ARGS);
                        gemmSiluMul = linker.downcallHandle(
                                lib.findOrThrow("jepd_bf16_gemm_silu_mul_avx512"), GEMM_SILU_MUL_ARGS);
                    }
                }
            }
        } catch (Throwable e) { // a library that will not load must never stop the backend
            amxOff = avx512Off = "failed to load: " + e;
            packedBytes = pack = rows = attention = causal = siluMul = rotary = addRmsNorm =
                    gemmBytes = gemmPack = gemm = gemmSiluMul = gemmGelu = segmentAttention = segmentAvx512 = null;
        }
        PACKED_BYTES = packedBytes;
        PACK = pack;
        LINEAR_ROWS = rows;
        LINEAR_ROWS_MAX = rows == null ? 16 : rowsMax;
        DECODE_ATTENTION = attention;
        CAUSAL_ATTENTION = causal;
        SILU_MUL = siluMul;
        ROTARY = rotary;
        ADD_RMS_NORM = addRmsNorm;
        SEGMENT_ATTENTION = segmentAttention;
        SEGMENT_ATTENTION_AVX512 = segmentAvx512;
        GEMM_PACKED_BYTES = gemmBytes;
        GEMM_PACK = gemmPack;
        GEMM = gemm;
        GEMM_SILU_MUL = gemmSiluMul;
        GEMM_GELU = gemmGelu;
        AMX_OFF_BECAUSE = amxOff;
        AVX512_OFF_BECAUSE = avx512Off;
    }

    private NativeKernels() {}

    /** One line for the backend's description: which of JEPD's kernels run here. */
    static String describe() {
        return "JEPD kernels: AMX products " + (AMX_OFF_BECAUSE == null ? "on" : AMX_OFF_BECAUSE)
                + ", AVX-512 attention/SiLU/rotary " + (AVX512_OFF_BECAUSE == null ? "on" : AVX512_OFF_BECAUSE)
                + (AMX_OFF_BECAUSE != null && GEMM != null ? ", AVX-512 BF16 products" : "");
    }

    /**
     * The library from the jar, through a temporary copy that is deleted once mapped (a loaded library needs no
     * file); null when the jar has none for this platform.
     */
    private static SymbolLookup load() throws IOException {
        if (!"Linux".equals(System.getProperty("os.name")) || !"amd64".equals(System.getProperty("os.arch"))) {
            return null;
        }
        try (InputStream in = NativeKernels.class.getResourceAsStream(RESOURCE)) {
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

    /** For a downcall's pointer argument: the segment, or NULL. */
    static MemorySegment orNull(MemorySegment s) {
        return s == null ? MemorySegment.NULL : s;
    }
}
