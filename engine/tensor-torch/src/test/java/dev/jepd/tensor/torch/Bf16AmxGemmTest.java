package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * JEPD's GEMM for bf16 products of many rows (on AMX tiles, or its AVX-512 BF16 build where there is no AMX) against
 * libtorch's own bf16 GEMM on the same operands (the weight handed to libtorch column-major, which JEPD's kernels
 * never take, so that oneDNN computes it, not this kernel): row counts that leave partial 16- and 32-row blocks (and
 * 6-row steps), weight-row counts that leave partial blocks and tiles, inner sizes that leave a partial k block or
 * span several (odd ones too), rows further apart than their length, several slabs of rows, with and without a
 * bias; and its gated-MLP epilogue (the SiLU·mul of two products) against libtorch's ops one by one.
 */
class Bf16AmxGemmTest {
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    /**
     * {@code [rows, out, in, ldx]}. Where x's rows are not a multiple of 4 KB apart, the A tiles come straight from
     * them ({@link Bf16AmxGemm#DIRECT}), the last k step past a multiple of 32 and the last rows past one from copies;
     * else x is packed first.
     */
    private static final long[][] SHAPES = {
        {256, 64, 64, 64}, // the fewest rows TorchOps hands it, one block each way
        {300, 300, 600, 600}, // a partial 32-row block of x (12 rows), 9 blocks + 12 weight rows, k 512 + 88
        {77 + 256, 530, 45, 50}, // a tiny k, x's rows 50 apart (a slice of a wider matrix)
        {1000, 100, 1300, 1300}, // ≥ 768 rows: k blocks of 1,280 + 20, the next block prefetched
        {1024, 300, 1280, 1280}, // a vision block's rows and k: one k block of 1,280, a partial weight block
        {1024, 96, 3420, 3420}, // the vision MLP's down projection: k blocks of 1,280 + 1,280 + 860
        {512, 70, 2560, 2600}, // k in five blocks of 512 (sums kept between them), x's rows 2,600 apart
        // x's rows 4 KB apart: packed
        {300, 70, 2048, 2048}, // a partial 32-row block, four k blocks
        {600, 40, 32768, 32768}, // several slabs of rows (256 each for this k)
        {512, 40, 32768, 32768}, // two slabs of 256 rows
        {65, 100, 4100, 4100}, // the fewest rows on AVX-512 alone; there k in blocks of 2,048 + 2,048 + 4
        {71, 33, 31, 31}, // an odd k below one pair tile, one weight row past a block of 32
    };

    /** bf16 NaN: where the kernel must not read (x's row stride past its k, the rows past its last). */
    private static final short NAN = (short) 0x7FC0;

    @Test
    void agreesWithLibtorchsGemm() {
        assumeTrue(Bf16AmxGemm.AVAILABLE, "the AMX GEMM is off: " + Bf16AmxGemm.UNAVAILABLE_BECAUSE);
        assertTrue(Bf16AmxGemm.slabRows(32768) < 600, "the last shape should take several slabs");
        Random random = new Random(20261205);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared()) { // shared: the kernel's workers read it
            backend.warmUp(); // the RMSNorm kernel's background warm-up holds the pool until it is done
            for (long[] shape : SHAPES) {
                long rows = shape[0];
                long out = shape[1];
                long in = shape[2];
                long ldx = shape[3];
                MemorySegment w = Bf16TestData.random(arena, random, out * in, 1f);
                MemorySegment bias = Bf16TestData.random(arena, random, out, 4f);
                // the kernel's x: NaN between one row's k and the next row (a tile that reads them would poison
                // its sums), its end where a page no one may read begins (a tile that reads past the last row kills
                // the test); libtorch's, the same values without the NaN (its own GEMM reads past k in a row)
                MemorySegment clean = Bf16TestData.random(arena, random, rows * ldx, 1f);
                MemorySegment x = Bf16TestData.guarded(arena, 2 * rows * ldx).copyFrom(clean);
                try {
                    for (long i = 0; i < rows * ldx; i++) {
                        if (i % ldx >= in) {
                            x.setAtIndex(BF16, i, NAN);
                        }
                    }
                    for (boolean withBias : new boolean[] {false, true}) {
                        MemorySegment got = arena.allocate(2 * rows * out, 64);
                        assertTrue(Bf16AmxGemm.tryRun(
                                w, out, in, x, ldx, rows, withBias ? bias : null, got, Bf16AmxGemm.Epilogue.PLAIN));
                        try (Scope scope = backend.open()) {
                            Ops ops = backend.ops(scope);
                            Tensor wt = columnMajor(ops, arena, w, out, in);
                            Tensor xt = ops.slice(ops.load(clean, DType.BF16, rows, ldx), 1, 0, in);
                            Tensor b = withBias ? ops.load(bias, DType.BF16, out) : null;
                            float[] want = ops.linear(xt, wt, b).toFloats();
                            assertClose(want, got, rows, out, shape, withBias);
                        }
                    }
                } finally {
                    Bf16TestData.unguard(x);
                }
            }
        }
    }

    /** Both sum exact products in f32 (in another order) and round once: one bf16 ulp, plus f32 summation slack. */
    private static void assertClose(float[] want, MemorySegment got, long rows, long out, long[] shape, boolean bias) {
        double scale = 0;
        for (float e : want) {
            scale = Math.max(scale, Math.abs(e));
        }
        int differ = 0;
        for (int i = 0; i < rows * out; i++) {
            float g = Float.intBitsToFloat(got.getAtIndex(BF16, i) << 16);
            float e = want[i];
            double tol = 0x1p-7 * Math.abs(e) + 0x1p-12 * (1 + scale);
            if (!(Math.abs(g - e) <= tol)) { // NaN fails too
                assertEquals(
                        e,
                        g,
                        tol,
                        java.util.Arrays.toString(shape) + " bias " + bias + " at " + i / out + ", " + i % out);
            }
            differ += g != e ? 1 : 0;
        }
        // a different order of f32 additions moves a few results across a bf16 rounding boundary, not many
        assertTrue(
                differ <= rows * out / 10,
                differ + " of " + rows * out + " differ: " + java.util.Arrays.toString(shape));
    }

    @Test
    void linearTakesTheKernelForManyRowsAndGivesLibtorchsAnswer() {
        assumeTrue(Bf16AmxGemm.AVAILABLE && TorchOps.AMX_GEMM, "the AMX GEMM is off");
        Random random = new Random(11);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared();
                Scope scope = backend.open()) {
            Ops ops = backend.ops(scope);
            long out = 200;
            long in = 96;
            MemorySegment ws = Bf16TestData.random(arena, random, out * in, 1f);
            Tensor w = ops.load(ws, DType.BF16, out, in);
            Tensor b = ops.load(Bf16TestData.random(arena, random, out, 1f), DType.BF16, out);
            MemorySegment xs = Bf16TestData.random(arena, random, 300 * in, 1f);
            Tensor x = ops.load(xs, DType.BF16, 3, 100, in); // [3, 100, in]: 300 rows
            Tensor y = ops.linear(x, w, b);
            assertEquals(
                    List.of(3L, 100L, out),
                    java.util.Arrays.stream(y.shape()).boxed().toList());
            float[] want =
                    ops.linear(x, columnMajor(ops, arena, ws, out, in), b).toFloats(); // libtorch's
            assertClose(want, bf16(arena, y.toFloats()), 300, out, new long[] {300, out, in, in}, true);
        }
    }

    /**
     * The bf16 weight {@code w [out, in]} as a column-major view (the rows of its transpose): libtorch's {@code linear}
     * takes it to oneDNN, JEPD's kernels (which read weight rows) never take it.
     */
    private static Tensor columnMajor(Ops ops, Arena arena, MemorySegment w, long out, long in) {
        MemorySegment t = arena.allocate(2 * out * in, 64);
        for (long o = 0; o < out; o++) {
            for (long i = 0; i < in; i++) {
                t.setAtIndex(BF16, i * out + o, w.getAtIndex(BF16, o * in + i));
            }
        }
        Tensor wt = ops.permute(ops.load(t, DType.BF16, in, out), 1, 0);
        assertEquals(1, ((TorchTensor) wt).strides()[0], "a column-major view");
        return wt;
    }

    @Test
    void theGatedMlpEpilogueAgreesWithLibtorchsOpsOneByOne() {
        assumeTrue(Bf16AmxGemm.AVAILABLE, "the AMX GEMM is off: " + Bf16AmxGemm.UNAVAILABLE_BECAUSE);
        Random random = new Random(5);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared()) {
            backend.warmUp();
            // [rows, out, in]: partial blocks everywhere; ≥ 768 rows with a k tail past one 1,280 block; one k
            // block of 1,024 rows (the epilogue by groups of 256 rows) and several; x's rows 4 KB apart (packed)
            for (long[] shape :
                    new long[][] {{300, 300, 600}, {1000, 100, 1300}, {1024, 96, 1280}, {512, 64, 2560}, {300, 64, 2048}
                    }) {
                long rows = shape[0];
                long out = shape[1];
                long in = shape[2];
                MemorySegment w = Bf16TestData.random(arena, random, out * in, 1f);
                MemorySegment w2 = Bf16TestData.random(arena, random, out * in, 1f);
                MemorySegment b = Bf16TestData.random(arena, random, out, 2f);
                MemorySegment b2 = Bf16TestData.random(arena, random, out, 2f);
                MemorySegment x = Bf16TestData.random(arena, random, rows * in, 0.5f);
                MemorySegment gated = arena.allocate(2 * rows * out, 64);
                assertTrue(
                        Bf16AmxGemm.tryRun(w, out, in, x, in, rows, b, gated, Bf16AmxGemm.Epilogue.siluMulUp(w2, b2)));
                try (Scope scope = backend.open()) {
                    Ops ops = backend.ops(scope);
                    Tensor xt = ops.load(x, DType.BF16, rows, in);
                    Tensor lin = ops.linear(xt, columnMajor(ops, arena, w, out, in), ops.load(b, DType.BF16, out));
                    Tensor up = ops.linear(xt, columnMajor(ops, arena, w2, out, in), ops.load(b2, DType.BF16, out));
                    assertClose(ops.mul(ops.silu(lin), up).toFloats(), gated, rows, out, shape, true);
                }
            }
        }
    }

    @Test
    void theGeluEpilogueIsLibtorchsAddmmActivation() {
        assumeTrue(Bf16AmxGemm.AVAILABLE, "the AMX GEMM is off: " + Bf16AmxGemm.UNAVAILABLE_BECAUSE);
        Random random = new Random(7);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared()) {
            backend.warmUp();
            // [rows, out, in]: partial blocks everywhere; the mergers' first layer (k in ten blocks of 512); ≥ 768
            // rows, one k block; x's rows 4 KB apart (packed)
            for (long[] shape : new long[][] {{300, 300, 600}, {256, 96, 5120}, {1024, 64, 1280}, {300, 40, 2048}}) {
                long rows = shape[0];
                long out = shape[1];
                long in = shape[2];
                MemorySegment w = Bf16TestData.random(arena, random, out * in, 1f);
                MemorySegment b = Bf16TestData.random(arena, random, out, 2f);
                MemorySegment x = Bf16TestData.random(arena, random, rows * in, 0.5f);
                MemorySegment got = arena.allocate(2 * rows * out, 64);
                assertTrue(Bf16AmxGemm.tryRun(w, out, in, x, in, rows, b, got, Bf16AmxGemm.Epilogue.GELU));
                try (Scope scope = backend.open()) {
                    Ops ops = backend.ops(scope);
                    Tensor xt = ops.load(x, DType.BF16, rows, in);
                    Tensor wt = columnMajor(ops, arena, w, out, in);
                    Tensor bt = ops.load(b, DType.BF16, out);
                    float[] want = ops.linearGelu(xt, wt, bt).toFloats(); // libtorch's _addmm_activation
                    float[] plain = ops.linear(xt, wt, bt).toFloats();
                    int negative = 0;
                    for (float v : plain) {
                        negative += v < -1 ? 1 : 0;
                    }
                    assertTrue(negative > rows * out / 10, "the products should reach GELU's curved negative side");
                    assertClose(want, got, rows, out, shape, true);
                }
                // the op: TorchOps.linearGelu takes the kernel for these rows
                try (Scope scope = backend.open()) {
                    Ops ops = backend.ops(scope);
                    float[] viaOp = ops.linearGelu(
                                    ops.load(x, DType.BF16, rows, in),
                                    ops.load(w, DType.BF16, out, in),
                                    ops.load(b, DType.BF16, out))
                            .toFloats();
                    for (int i = 0; i < viaOp.length; i++) {
                        assertEquals(Float.intBitsToFloat(got.getAtIndex(BF16, i) << 16), viaOp[i], "element " + i);
                    }
                }
            }
        }
    }

    @Test
    void linearSiluMulTakesTheKernelAndGivesLibtorchsAnswer() {
        assumeTrue(Bf16AmxGemm.AVAILABLE && TorchOps.AMX_FUSED, "the AMX GEMM's fused ops are off");
        Random random = new Random(13);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared();
                Scope scope = backend.open()) {
            Ops ops = backend.ops(scope);
            long rows = 260;
            long out = 96;
            long in = 64;
            Tensor x = ops.load(Bf16TestData.random(arena, random, rows * in, 1f), DType.BF16, 2, rows / 2, in);
            MemorySegment gs = Bf16TestData.random(arena, random, out * in, 1f);
            MemorySegment us = Bf16TestData.random(arena, random, out * in, 1f);
            Tensor gw = ops.load(gs, DType.BF16, out, in);
            Tensor uw = ops.load(us, DType.BF16, out, in);
            Tensor gated = ops.linearSiluMul(x, gw, null, uw, null); // no biases: the decoder's MLP
            assertEquals(
                    List.of(2L, rows / 2, out),
                    java.util.Arrays.stream(gated.shape()).boxed().toList());
            Tensor x2 = ops.reshape(x, rows, in);
            Tensor g = ops.linear(x2, columnMajor(ops, arena, gs, out, in), null);
            float[] wantGated = ops.mul(ops.silu(g), ops.linear(x2, columnMajor(ops, arena, us, out, in), null))
                    .toFloats();
            long[] shape = {rows, out, in};
            assertClose(wantGated, bf16(arena, gated.toFloats()), rows, out, shape, false);
        }
    }

    private static MemorySegment bf16(Arena arena, float[] values) {
        MemorySegment m = arena.allocate(2L * values.length);
        for (int i = 0; i < values.length; i++) {
            m.setAtIndex(BF16, i, Bf16MatVec.narrow(values[i]));
        }
        return m;
    }

    @Test
    void rejectsSegmentsSmallerThanTheShape() {
        assumeTrue(Bf16AmxGemm.AVAILABLE, "the AMX GEMM is off: " + Bf16AmxGemm.UNAVAILABLE_BECAUSE);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = arena.allocate(2 * 64 * 64);
            MemorySegment x = arena.allocate(2 * 255 * 64); // one row short
            MemorySegment y = arena.allocate(2 * 256 * 64);
            assertThrows(
                    IllegalArgumentException.class,
                    () -> Bf16AmxGemm.tryRun(w, 64, 64, x, 64, 256, null, y, Bf16AmxGemm.Epilogue.PLAIN));
            assertThrows(
                    IllegalArgumentException.class,
                    () -> Bf16AmxGemm.tryRun(w, 64, 64, y, 32, 256, null, y, Bf16AmxGemm.Epilogue.PLAIN));
        }
    }
}
