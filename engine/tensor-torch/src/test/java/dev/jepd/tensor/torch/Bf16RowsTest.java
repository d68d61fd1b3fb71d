package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * {@link Bf16Rows}' RMSNorm against the libtorch composition it replaces, on the layouts the models hand it: one
 * decode row, a vision block's {@code [1024, 1280]} (large enough for the thread pool), Qwen3's per-head
 * {@code [T, heads, d]}, rows too short for one vector, a row stride wider than the row, rows on two strides (a
 * permuted view), and a strided last axis
 * (which libtorch keeps). The f32 sum of squares runs in another order, so the normed row may round to the other
 * neighbouring bf16 (one ulp), which the product with a weight of magnitude up to 2 can make two ulps of the result;
 * no more than one element in a hundred may differ at all.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Bf16RowsTest {
    private TorchBackend backend;
    private Scope scope;
    private TorchOps ops;
    private final SplittableRandom random = new SplittableRandom(20261205);

    @BeforeAll
    void open() {
        assumeTrue(TorchOps.JAVA_ROWS, "the JVM runs without --add-modules jdk.incubator.vector");
        backend = TorchBackend.cpu(DType.BF16);
    }

    @AfterAll
    void close() {
        if (backend != null) {
            backend.close();
        }
    }

    @BeforeEach
    void scope() {
        scope = backend.open();
        ops = (TorchOps) backend.ops(scope);
    }

    @AfterEach
    void closeScope() {
        scope.close();
    }

    private Tensor rand(float range, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((random.nextDouble() * 2 - 1) * range);
        }
        Tensor t = ops.fromFloats(v, shape);
        assertEquals(DType.BF16, t.dtype());
        return t;
    }

    /** A bf16 as an integer that orders like the value, so that neighbouring bf16 values differ by one. */
    private static int ordered(float bf16) {
        int b = Float.floatToRawIntBits(bf16) >> 16;
        return b < 0 ? Short.MIN_VALUE - b : b;
    }

    private static void agree(String what, Tensor want, Tensor got, int maxUlps) {
        assertEquals(DType.BF16, got.dtype(), what);
        assertArrayEquals(want.shape(), got.shape(), what);
        float[] w = want.toFloats();
        float[] g = got.toFloats();
        int differ = 0;
        for (int i = 0; i < w.length; i++) {
            int ulps = Math.abs(ordered(w[i]) - ordered(g[i]));
            assertTrue(ulps <= maxUlps, what + ": element " + i + " is " + g[i] + ", libtorch gives " + w[i]);
            differ += ulps == 0 ? 0 : 1;
        }
        assertTrue(differ * 100 <= w.length, what + ": " + differ + " of " + w.length + " elements differ");
    }

    @Test
    void rmsNorm() {
        for (long[] shape : new long[][] {{1, 2048}, {5, 36}, {1024, 1280}, {3, 16, 128}}) {
            Tensor x = rand(3, shape);
            Tensor w = rand(2, shape[shape.length - 1]);
            agree(
                    "rmsNorm " + java.util.Arrays.toString(shape),
                    ops.torchRmsNorm(x, w, 1e-6f),
                    ops.rmsNorm(x, w, 1e-6f),
                    2);
        }
        Tensor wide = rand(3, 64, 2 * 96);
        Tensor x = ops.slice(wide, 1, 96, 192); // rows 192 apart
        Tensor w = rand(2, 96);
        agree("rmsNorm of a strided view", ops.torchRmsNorm(x, w, 1e-5f), ops.rmsNorm(x, w, 1e-5f), 2);
        Tensor swapped = ops.permute(rand(3, 8, 4, 96), 1, 0, 2); // [4, 8, 96]: two leading axes that do not merge
        agree("rmsNorm of rows on two strides", ops.torchRmsNorm(swapped, w, 1e-5f), ops.rmsNorm(swapped, w, 1e-5f), 2);
    }

    @Test
    void aStridedLastAxisTakesLibtorch() {
        Tensor col = ops.permute(rand(1, 8, 4), 1, 0); // last axis strided
        Tensor w = rand(1, 8);
        agree("rmsNorm, strided last axis", ops.torchRmsNorm(col, w, 1e-6f), ops.rmsNorm(col, w, 1e-6f), 0);
    }
}
