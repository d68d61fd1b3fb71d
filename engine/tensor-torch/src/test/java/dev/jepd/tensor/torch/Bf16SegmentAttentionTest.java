package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
 * JEPD's AMX attention within short segments (the vision windows) against libtorch's own CPU flash attention run
 * segment by segment on the same bf16 operands: segment lengths that leave partial 16- and 32-key blocks, an empty
 * one, one of a single token, the longest the kernel takes; head sizes of the three Qwen-VL vision towers and others
 * (partial 32-element steps included); q, k and v as the strided views of a fused qkv product, as the vision tower
 * hands them over.
 */
class Bf16SegmentAttentionTest {
    @Test
    void agreesWithLibtorchsFlashAttentionSegmentBySegment() {
        assumeTrue(Bf16SegmentAttention.AVAILABLE && TorchOps.NATIVE_ATTENTION, "the kernel is off here");
        Random random = new Random(3);
        int[] cu = {0, 64, 64, 65, 82, 338, 438}; // 64, empty, 1, 17, 256 (the most), 100
        long n = cu[cu.length - 1];
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared();
                Scope scope = backend.open()) {
            backend.warmUp();
            Ops ops = backend.ops(scope);
            for (long d : new long[] {80, 64, 16, 128, 40, 2}) {
                long heads = 3;
                // [N, 3, H, d] permuted to [3, H, N, d]: q, k, v are strided views, as in VisionAttention
                Tensor qkv = ops.permute(
                        ops.load(Bf16TestData.random(arena, random, n * 3 * heads * d, 2f), DType.BF16, n, 3, heads, d),
                        1,
                        2,
                        0,
                        3);
                Tensor q = ops.reshape(ops.slice(qkv, 0, 0, 1), heads, n, d);
                Tensor k = ops.reshape(ops.slice(qkv, 0, 1, 2), heads, n, d);
                Tensor v = ops.reshape(ops.slice(qkv, 0, 2, 3), heads, n, d);
                float scale = (float) (1 / Math.sqrt(d));
                float[] got = ops.varlenAttention(q, k, v, cu, scale).toFloats();
                for (int s = 0; s + 1 < cu.length; s++) {
                    int s0 = cu[s];
                    int s1 = cu[s + 1];
                    if (s1 == s0) {
                        continue;
                    }
                    float[] want = ops.attention(
                                    ops.slice(q, 1, s0, s1),
                                    ops.slice(k, 1, s0, s1),
                                    ops.slice(v, 1, s0, s1),
                                    null,
                                    scale)
                            .toFloats(); // [H, len, d]: libtorch's flash attention
                    int len = s1 - s0;
                    int differ = 0;
                    for (int h = 0; h < heads; h++) {
                        for (int t = 0; t < len; t++) {
                            for (int e = 0; e < d; e++) {
                                float w = want[(int) ((h * len + t) * d + e)];
                                float g = got[(int) ((h * n + s0 + t) * d + e)];
                                // both round the softmax terms to bf16 and the output once; sums in another order:
                                // a couple of bf16 ulps of the output, relative to the values' scale (2)
                                assertEquals(
                                        w,
                                        g,
                                        0x1p-6 * Math.abs(w) + 0x1p-7,
                                        "d " + d + " segment " + s + " head " + h + " token " + t + " element " + e);
                                differ += w != g ? 1 : 0;
                            }
                        }
                    }
                    assertTrue(differ <= heads * len * d / 4, differ + " of " + heads * len * d + " differ, d " + d);
                }
            }
        }
    }

    /**
     * The rotary folded into the kernel rotates q and k as {@code rotary} does (the same rounding steps), so the fused
     * op gives the composition's answer bit for bit; a frame longer than the kernel takes goes the composed way.
     */
    @Test
    void rotaryInsideTheKernelIsTheRotaryOpThenTheAttention() {
        assumeTrue(Bf16SegmentAttention.AVAILABLE && TorchOps.NATIVE_ATTENTION, "the kernel is off here");
        Random random = new Random(5);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared();
                Scope scope = backend.open()) {
            backend.warmUp();
            Ops ops = backend.ops(scope);
            for (int[] cu : new int[][] {{0, 64, 64, 65, 82, 338, 438}, {0, 300}}) {
                long n = cu[cu.length - 1];
                for (long d : new long[] {80, 64, 128, 40, 2}) {
                    long heads = 3;
                    Tensor qkv = ops.permute(
                            ops.load(
                                    Bf16TestData.random(arena, random, n * 3 * heads * d, 2f),
                                    DType.BF16,
                                    n,
                                    3,
                                    heads,
                                    d),
                            1,
                            2,
                            0,
                            3);
                    Tensor q = ops.reshape(ops.slice(qkv, 0, 0, 1), heads, n, d);
                    Tensor k = ops.reshape(ops.slice(qkv, 0, 1, 2), heads, n, d);
                    Tensor v = ops.reshape(ops.slice(qkv, 0, 2, 3), heads, n, d);
                    Tensor cos = ops.load(Bf16TestData.random(arena, random, n * d, 1f), DType.BF16, n, d);
                    Tensor sin = ops.load(Bf16TestData.random(arena, random, n * d, 1f), DType.BF16, n, d);
                    float scale = (float) (1 / Math.sqrt(d));
                    float[] want = ops.varlenAttention(ops.rotary(q, cos, sin), ops.rotary(k, cos, sin), v, cu, scale)
                            .toFloats();
                    Tensor got = ops.rotaryVarlenAttention(q, k, v, cos, sin, cu, scale);
                    assertArrayEquals(new long[] {heads, n, d}, got.shape());
                    assertArrayEquals(want, got.toFloats(), "d " + d + ", " + (cu.length - 1) + " segments");
                }
            }
        }
    }

    /**
     * The AVX-512 BF16 build (the one AMD's CPUs run) gives the answer of the build in use, which the tests above hold
     * to libtorch: on a CPU with AMX that is the AMX build, so the two are compared here; elsewhere it is itself.
     */
    @Test
    void theAvx512BuildGivesTheAnswerOfTheBuildInUse() {
        assumeTrue(NativeKernels.SEGMENT_ATTENTION_AVX512 != null && TorchOps.NATIVE_ATTENTION, "no AVX-512 BF16 here");
        Random random = new Random(6);
        int[] cu = {0, 64, 64, 65, 82, 338, 438};
        long n = cu[cu.length - 1];
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared();
                Scope scope = backend.open()) {
            backend.warmUp();
            Ops ops = backend.ops(scope);
            for (long d : new long[] {80, 72, 128, 2}) {
                long heads = 3;
                MemorySegment[] qkv = new MemorySegment[3];
                for (int i = 0; i < 3; i++) {
                    qkv[i] = Bf16TestData.random(arena, random, heads * n * d, 2f); // [heads, n, d]
                }
                MemorySegment cos = Bf16TestData.random(arena, random, n * d, 1f); // [n, d]
                MemorySegment sin = Bf16TestData.random(arena, random, n * d, 1f);
                float scale = (float) (1 / Math.sqrt(d));
                float[] want = ops.rotaryVarlenAttention(
                                ops.load(qkv[0], DType.BF16, heads, n, d),
                                ops.load(qkv[1], DType.BF16, heads, n, d),
                                ops.load(qkv[2], DType.BF16, heads, n, d),
                                ops.load(cos, DType.BF16, n, d),
                                ops.load(sin, DType.BF16, n, d),
                                cu,
                                scale)
                        .toFloats();
                MemorySegment out = arena.allocate(2 * heads * n * d, 64);
                long[] strides = {n * d, d};
                assertTrue(Bf16SegmentAttention.tryRun(
                        NativeKernels.SEGMENT_ATTENTION_AVX512,
                        qkv[0],
                        strides,
                        qkv[1],
                        strides,
                        qkv[2],
                        strides,
                        new Bf16SegmentAttention.Rotary(cos, d, sin, d),
                        arena.allocateFrom(ValueLayout.JAVA_INT, cu),
                        cu.length - 1,
                        heads,
                        n,
                        d,
                        scale,
                        out,
                        strides));
                for (int i = 0; i < want.length; i++) {
                    float g = Float.intBitsToFloat(out.getAtIndex(ValueLayout.JAVA_SHORT, i) << 16);
                    // the same roundings; the AMX tile may add a row's pairs in another order
                    assertEquals(want[i], g, 0x1p-6 * Math.abs(want[i]) + 0x1p-7, "d " + d + " element " + i);
                }
            }
        }
    }

    @Test
    void longerSegmentsGoToLibtorchAndGiveTheSameAnswer() {
        assertFalse(Bf16SegmentAttention.takes(new int[] {0, 257}, 257, 80), "longer than the kernel takes");
        assertFalse(Bf16SegmentAttention.takes(new int[] {1, 64}, 64, 80), "segments must start at 0");
        assertFalse(Bf16SegmentAttention.takes(new int[] {0, 64}, 65, 80), "and cover every token");
        assertFalse(Bf16SegmentAttention.takes(new int[] {0, 64}, 64, 130), "head size past 128");
        assumeTrue(Bf16SegmentAttention.AVAILABLE, "the kernel is off here");
        assertTrue(Bf16SegmentAttention.takes(new int[] {0, 64, 128}, 128, 80));
        Random random = new Random(4);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared();
                Scope scope = backend.open()) {
            Ops ops = backend.ops(scope);
            long n = 300;
            Tensor q = ops.load(Bf16TestData.random(arena, random, 2 * n * 32, 1f), DType.BF16, 2, n, 32);
            Tensor k = ops.load(Bf16TestData.random(arena, random, 2 * n * 32, 1f), DType.BF16, 2, n, 32);
            Tensor v = ops.load(Bf16TestData.random(arena, random, 2 * n * 32, 1f), DType.BF16, 2, n, 32);
            float[] got =
                    ops.varlenAttention(q, k, v, new int[] {0, (int) n}, 0.25f).toFloats();
            assertArrayEquals(ops.attention(q, k, v, null, 0.25f).toFloats(), got, "one segment of 300: libtorch's");
        }
    }
}
