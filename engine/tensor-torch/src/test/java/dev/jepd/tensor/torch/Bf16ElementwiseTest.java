package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * JEPD's one-pass bf16 {@code silu(gate) · up} and rotary embedding against libtorch's own kernels composed as before
 * (the same rounding points, so equal up to {@code e^x}'s last f32 bit for SiLU, and bit for bit for rotary), on the
 * layouts the models hand them: the vision tower's q and k as a permuted view of the qkv product with the tables
 * broadcast over heads, the decoder's dense [T, H, d] with [T, 1, d] tables, and sizes that leave vector tails.
 */
class Bf16ElementwiseTest {
    @Test
    void siluMulIsLibtorchsSiluThenMul() {
        assumeTrue(TorchOps.NATIVE_ELEMENTWISE, "the kernels are off: " + Bf16Elementwise.UNAVAILABLE_BECAUSE);
        Random random = new Random(5);
        try (TorchBackend backend = new TorchBackend();
                Scope scope = backend.open();
                Arena arena = Arena.ofShared()) {
            Ops ops = backend.ops(scope);
            for (long[] shape : new long[][] {{3, 37}, {512, 11008}, {1, 1}}) { // a tail; a chunked op; one element
                Tensor g = bf16(ops, arena, random, 12f, shape);
                Tensor u = bf16(ops, arena, random, 3f, shape);
                float[] got = ops.siluMul(g, u).toFloats();
                float[] want = ops.mul(ops.silu(g), u).toFloats();
                int differ = 0;
                for (int i = 0; i < got.length; i++) {
                    assertEquals(want[i], got[i], 0x1p-7 * Math.abs(want[i]), "element " + i);
                    differ += got[i] != want[i] ? 1 : 0;
                }
                assertTrue(differ <= got.length / 1000, differ + " of " + got.length + " differ by an ulp");
            }
        }
    }

    @Test
    void rotaryIsLibtorchsCompositionBitForBit() {
        assumeTrue(TorchOps.NATIVE_ELEMENTWISE, "the kernels are off: " + Bf16Elementwise.UNAVAILABLE_BECAUSE);
        Random random = new Random(6);
        try (TorchBackend backend = new TorchBackend();
                Scope scope = backend.open();
                Arena arena = Arena.ofShared()) {
            Ops ops = backend.ops(scope);
            // the vision tower: qkv [N, 3, heads, hd] permuted to [3, heads, N, hd], q and k as [2·heads, N, hd]
            long n = 50;
            long heads = 4;
            long hd = 40; // a half of 20: a vector tail
            Tensor qkv = ops.permute(bf16(ops, arena, random, 4f, n, 3, heads, hd), 1, 2, 0, 3);
            Tensor qk = ops.reshape(ops.slice(qkv, 0, 0, 2), 2 * heads, n, hd);
            Tensor cos = bf16(ops, arena, random, 1f, n, hd);
            Tensor sin = bf16(ops, arena, random, 1f, n, hd);
            same(ops, qk, cos, sin);
            // the decoder: [T, H, d] with [T, 1, d] tables
            Tensor x = bf16(ops, arena, random, 4f, 7, 16, 128);
            same(ops, x, bf16(ops, arena, random, 1f, 7, 1, 128), bf16(ops, arena, random, 1f, 7, 1, 128));
        }
    }

    /**
     * The fused residual add and RMSNorm: the sum is libtorch's add bit for bit; the normed rows are libtorch's
     * composition of Qwen2RMSNorm up to the order of the f32 sum of squares (a normed value may round to its other
     * bf16 neighbour), on a vision block's rows, a decode row and rows with a vector tail.
     */
    @Test
    void addRmsNormIsTheAddThenLibtorchsRmsNorm() {
        assumeTrue(TorchOps.NATIVE_ELEMENTWISE, "the kernels are off: " + Bf16Elementwise.UNAVAILABLE_BECAUSE);
        Random random = new Random(7);
        try (TorchBackend backend = new TorchBackend();
                Scope scope = backend.open();
                Arena arena = Arena.ofShared()) {
            TorchOps ops = (TorchOps) backend.ops(scope);
            for (long[] shape : new long[][] {{1024, 1280}, {1, 2048}, {5, 37}}) {
                long d = shape[shape.length - 1];
                Tensor x = bf16(ops, arena, random, 8f, shape);
                Tensor y = bf16(ops, arena, random, 2f, shape);
                Tensor w = bf16(ops, arena, random, 1.5f, d);
                Ops.Normed got = ops.addRmsNorm(x, y, w, 1e-6f);
                Tensor sum = ops.add(x, y);
                assertArrayEquals(sum.toFloats(), got.sum().toFloats(), "the sum");
                float[] want = ops.torchRmsNorm(sum, w, 1e-6f).toFloats();
                float[] normed = got.normed().toFloats();
                int differ = 0;
                for (int i = 0; i < want.length; i++) {
                    // one bf16 ulp of the normed value, times the weight (|w| < 1.5), then the product's rounding
                    assertEquals(want[i], normed[i], 0x1p-6 * Math.abs(want[i]) + 1e-30, "element " + i);
                    differ += want[i] != normed[i] ? 1 : 0;
                }
                assertTrue(differ <= want.length / 100 + 1, differ + " of " + want.length + " differ");
            }
        }
    }

    private static void same(Ops ops, Tensor x, Tensor cos, Tensor sin) {
        long d = x.dim(-1);
        long half = d / 2;
        Tensor swapped = ops.concat(List.of(ops.slice(x, -1, half, d), ops.slice(x, -1, 0, half)), -1);
        Tensor signedSin = ops.concat(List.of(ops.neg(ops.slice(sin, -1, 0, half)), ops.slice(sin, -1, half, d)), -1);
        Tensor want = ops.add(ops.mul(x, cos), ops.mul(swapped, signedSin));
        Tensor got = ops.rotary(x, cos, sin);
        assertArrayEquals(want.shape(), got.shape());
        assertArrayEquals(want.toFloats(), got.toFloats());
    }

    private static Tensor bf16(Ops ops, Arena arena, Random random, float range, long... shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return ops.load(Bf16TestData.random(arena, random, n, range), DType.BF16, shape);
    }
}
