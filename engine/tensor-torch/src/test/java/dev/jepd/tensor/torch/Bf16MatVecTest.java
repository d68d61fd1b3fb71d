package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The Java bf16 matrix-vector kernel against libtorch's own bf16 GEMM on the same operands (the row repeated past
 * what JEPD's kernels take, so that libtorch computes it), on shapes with vector tails and odd row counts; and its
 * bf16 rounding against the IEEE rule torch uses.
 */
class Bf16MatVecTest {
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    @Test
    void roundsToNearestEvenAsTorchDoes() {
        assertEquals((short) 0x3F80, Bf16MatVec.narrow(1.0f));
        // 1 + 2^-8 is exactly half-way between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
        assertEquals((short) 0x3F80, Bf16MatVec.narrow(Float.intBitsToFloat(0x3F808000)));
        // (1 + 2^-7) + 2^-8 is half-way too, and rounds up to the even 1 + 2^-6.
        assertEquals((short) 0x3F82, Bf16MatVec.narrow(Float.intBitsToFloat(0x3F818000)));
        assertEquals((short) 0x3F81, Bf16MatVec.narrow(Float.intBitsToFloat(0x3F808001))); // above half: up
        assertEquals((short) 0x7F80, Bf16MatVec.narrow(Float.POSITIVE_INFINITY));
        assertEquals((short) 0x7F80, Bf16MatVec.narrow(Float.MAX_VALUE)); // overflows to infinity, as torch
        assertTrue(Float.isNaN(Float.intBitsToFloat(Bf16MatVec.narrow(Float.NaN) << 16)));
    }

    @Test
    void agreesWithLibtorchsGemm() {
        assumeTrue(Bf16MatVec.Support.AVAILABLE, "the JVM runs without --add-modules jdk.incubator.vector");
        Random random = new Random(20261205);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared()) { // shared: the kernel's workers read it
            // [out, in]: a tail after the last full vector pair, an odd row count, a tiny matrix, the MLP's shape
            long[][] shapes = {{131, 2088}, {7, 40}, {1, 3}, {2, 16}, {1024, 11008}};
            for (long[] shape : shapes) {
                long out = shape[0];
                long in = shape[1];
                MemorySegment w = Bf16TestData.random(arena, random, out * in, 1f);
                MemorySegment x = Bf16TestData.random(arena, random, in, 1f);
                MemorySegment bias = Bf16TestData.random(arena, random, out, 4f);
                for (boolean withBias : new boolean[] {false, true}) {
                    MemorySegment got = arena.allocate(2 * out);
                    assertTrue(Bf16MatVec.tryRun(w, out, in, x, withBias ? bias : null, got));
                    try (Scope scope = backend.open()) {
                        Ops ops = backend.ops(scope);
                        Tensor wt = ops.load(w, DType.BF16, out, in);
                        Tensor many = ops.concat( // more rows than JEPD's kernels take: libtorch's GEMM
                                java.util.Collections.nCopies(Bf16Amx.MAX_ROWS + 1, ops.load(x, DType.BF16, 1, in)), 0);
                        Tensor want = ops.linear(many, wt, withBias ? ops.load(bias, DType.BF16, out) : null);
                        float[] wf = want.toFloats();
                        double scale = 0;
                        for (int o = 0; o < out; o++) {
                            scale = Math.max(scale, Math.abs(wf[o]));
                        }
                        for (int o = 0; o < out; o++) {
                            float g = Float.intBitsToFloat(got.getAtIndex(BF16, o) << 16);
                            // both sum in f32 (in another order) and round once or twice to bf16: within one bf16
                            // ulp of the result, plus f32 summation slack relative to the largest output
                            double tol = 0x1p-7 * Math.abs(wf[o]) + 0x1p-12 * (1 + scale);
                            assertEquals(wf[o], g, tol, "[" + out + ", " + in + "] bias " + withBias + " row " + o);
                        }
                    }
                }
            }
        }
    }
}
