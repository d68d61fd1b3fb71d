package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * JEPD's kernel for bf16 products of a few rows (2–16 on AMX, up to 64 on AVX-512 BF16 alone) against libtorch's own
 * bf16 GEMM on the same operands (with more than {@link Bf16Amx#MAX_ROWS} rows, so that libtorch takes them, not this
 * kernel): weight-row counts that leave 16-row and partial tiles (and partial blocks of 6 and groups of 4 x rows in
 * the AVX-512 build's many-row loop), inner sizes that leave a partial k block (odd ones too), with and without a
 * bias.
 */
class Bf16AmxTest {
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    @Test
    void theBuildPutsTheKernelInTheJarOnX86_64Linux() throws Exception {
        assumeTrue(
                "Linux".equals(System.getProperty("os.name")) && "amd64".equals(System.getProperty("os.arch")),
                "the kernel is built for x86-64 Linux only");
        assumeTrue(!"skip".equals(System.getenv("JEPD_KERNELS")), "built with JEPD_KERNELS=skip");
        try (InputStream in = Bf16Amx.class.getResourceAsStream("linux-x86_64/libjepd_kernels.so")) {
            assertNotNull(in, "src/main/c/build.sh did not put libjepd_kernels.so into the classes");
        }
        // Whatever the CPU, the library loaded and answered; only the CPU may turn it off (AMX or AVX-512 BF16 serve).
        String why = Bf16Amx.UNAVAILABLE_BECAUSE;
        assertTrue(why == null || why.startsWith("no AVX-512") || why.startsWith("off"), "the kernel is off: " + why);
    }

    @Test
    void agreesWithLibtorchsGemm() {
        assumeTrue(Bf16Amx.AVAILABLE, "the AMX kernel is off: " + Bf16Amx.UNAVAILABLE_BECAUSE);
        Random random = new Random(20261205);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared()) { // shared: the kernel's workers read it
            backend.warmUp(); // the RMSNorm kernel's background warm-up holds the pool until it is done
            // [out, in]: 64-row blocks + a 16-row tile + 5 rows; a tiny matrix; a k tail; an odd k; a decode shape
            long[][] shapes = {{64 * 3 + 16 + 5, 2088}, {7, 40}, {1, 3}, {300, 33}, {2048, 2048}};
            for (long[] shape : shapes) {
                long out = shape[0];
                long in = shape[1];
                MemorySegment w = Bf16TestData.random(arena, random, out * in, 1f);
                MemorySegment bias = Bf16TestData.random(arena, random, out, 4f);
                for (int rows : new int[] {2, 5, 8, 16, 17, 30, 33, 64}) {
                    if (rows > Bf16Amx.MAX_ROWS) {
                        continue; // AMX's 16 rows
                    }
                    MemorySegment x = Bf16TestData.random(arena, random, rows * in, 1f);
                    for (boolean withBias : new boolean[] {false, true}) {
                        MemorySegment got = arena.allocate(2 * rows * out);
                        assertTrue(Bf16Amx.tryRun(w, out, in, x, rows, withBias ? bias : null, got));
                        try (Scope scope = backend.open()) {
                            Ops ops = backend.ops(scope);
                            Tensor wt = ops.load(w, DType.BF16, out, in);
                            // x repeated past the kernel's rows, so that libtorch's GEMM computes the reference
                            List<Tensor> parts = new ArrayList<>();
                            for (int total = 0; total <= Bf16Amx.MAX_ROWS; total += rows) {
                                parts.add(ops.load(x, DType.BF16, rows, in));
                            }
                            Tensor want = ops.linear(
                                    ops.concat(parts, 0), wt, withBias ? ops.load(bias, DType.BF16, out) : null);
                            float[] wf = want.toFloats();
                            double scale = 0;
                            for (int i = 0; i < rows * out; i++) {
                                scale = Math.max(scale, Math.abs(wf[i]));
                            }
                            for (int m = 0; m < rows; m++) {
                                for (int o = 0; o < out; o++) {
                                    float g = Float.intBitsToFloat(got.getAtIndex(BF16, m * out + o) << 16);
                                    float e = wf[(int) (m * out + o)];
                                    // both sum exact products in f32 (in another order) and round once or twice to
                                    // bf16: one bf16 ulp of the result, plus f32 summation slack
                                    double tol = 0x1p-7 * Math.abs(e) + 0x1p-12 * (1 + scale);
                                    assertEquals(
                                            e,
                                            g,
                                            tol,
                                            "[" + rows + ", " + in + "] · [" + out + ", " + in + "]ᵀ bias " + withBias
                                                    + " at " + m + ", " + o);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void linearTakesTheKernelForAFewRowsAndGivesLibtorchsAnswer() {
        assumeTrue(Bf16Amx.AVAILABLE, "the AMX kernel is off: " + Bf16Amx.UNAVAILABLE_BECAUSE);
        Random random = new Random(7);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared();
                Scope scope = backend.open()) {
            Ops ops = backend.ops(scope);
            long out = 320;
            long in = 256;
            Tensor w = ops.load(Bf16TestData.random(arena, random, out * in, 1f), DType.BF16, out, in);
            Tensor b = ops.load(Bf16TestData.random(arena, random, out, 1f), DType.BF16, out);
            Tensor x = ops.load(
                    Bf16TestData.random(arena, random, 8 * in, 1f), DType.BF16, 2, 4, in); // [2, 4, in]: 8 rows
            Tensor y = ops.linear(x, w, b);
            assertEquals(
                    List.of(2L, 4L, out),
                    java.util.Arrays.stream(y.shape()).boxed().toList());
            // the same rows among more than the kernel takes, where libtorch computes them
            List<Tensor> parts = new ArrayList<>();
            for (int total = 0; total <= Bf16Amx.MAX_ROWS; total += 8) {
                parts.add(ops.reshape(x, 8, in));
            }
            Tensor many = ops.linear(ops.concat(parts, 0), w, b);
            float[] got = y.toFloats();
            float[] want = many.toFloats();
            int differ = 0;
            for (int i = 0; i < got.length; i++) {
                assertEquals(want[i], got[i], 0x1p-7 * Math.abs(want[i]) + 0x1p-6, "element " + i);
                differ += want[i] != got[i] ? 1 : 0;
            }
            assertTrue(differ <= got.length / 20, differ + " of " + got.length + " differ from libtorch's bf16");
        }
    }
}
