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
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * JEPD's decode attention kernel called directly, against attention computed here in doubles from the same bf16
 * values (TorchBf16ParityTest checks the op through the backend against the reference backend); and the slot check
 * in front of it.
 */
class Bf16DecodeAttentionTest {
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    @Test
    void agreesWithAttentionInDoubles() {
        assumeTrue(Bf16DecodeAttention.AVAILABLE, "the kernel is off: " + Bf16DecodeAttention.UNAVAILABLE_BECAUSE);
        agrees(16, 2, 128); // Qwen2.5-VL-3B: 8 query heads per KV head, 8 vectors of 16 per row
        agrees(28, 4, 80); // 7 heads a group, an odd count of vectors (5) and a part vector per row
        agrees(24, 2, 64); // 12 heads a group: eight, then four
    }

    private static void agrees(int heads, int kvHeads, int d) {
        Random random = new Random(11);
        int b = 4;
        int s = 300;
        int cache = 1024;
        int[] lengths = {300, 1, 77, 256};
        try (Arena arena = Arena.ofShared()) { // shared: the pool's workers read it
            MemorySegment q = Bf16TestData.random(arena, random, (long) b * heads * d, 2f);
            MemorySegment keys = Bf16TestData.random(arena, random, (long) cache * kvHeads * d, 2f);
            MemorySegment values = Bf16TestData.random(arena, random, (long) cache * kvHeads * d, 1f);
            MemorySegment slots = arena.allocate(8L * b * s);
            for (long i = 0; i < (long) b * s; i++) {
                slots.setAtIndex(ValueLayout.JAVA_LONG, i, (i * 7919) % cache);
            }
            MemorySegment lens = arena.allocate(4L * b);
            for (int i = 0; i < b; i++) {
                lens.setAtIndex(ValueLayout.JAVA_INT, i, lengths[i]);
            }
            MemorySegment out = arena.allocate(2L * b * heads * d);
            float scale = (float) (1 / Math.sqrt(d));
            try (TorchBackend backend = new TorchBackend()) {
                backend.warmUp(); // the RMSNorm kernel's background warm-up holds the pool until it is done
            }
            assertTrue(Bf16DecodeAttention.tryRun(q, keys, values, slots, lens, b, s, heads, kvHeads, d, scale, out));
            for (int i = 0; i < b; i++) {
                for (int h = 0; h < heads; h++) {
                    int kh = h / (heads / kvHeads);
                    double[] p = new double[lengths[i]];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int t = 0; t < lengths[i]; t++) {
                        long row = (slots.getAtIndex(ValueLayout.JAVA_LONG, (long) i * s + t) * kvHeads + kh) * d;
                        double dot = 0;
                        for (int e = 0; e < d; e++) {
                            dot += at(q, ((long) i * heads + h) * d + e) * at(keys, row + e);
                        }
                        p[t] = dot * scale;
                        max = Math.max(max, p[t]);
                    }
                    double sum = 0;
                    for (int t = 0; t < p.length; t++) {
                        p[t] = Math.exp(p[t] - max);
                        sum += p[t];
                    }
                    for (int e = 0; e < d; e++) {
                        double want = 0;
                        for (int t = 0; t < p.length; t++) {
                            long row = (slots.getAtIndex(ValueLayout.JAVA_LONG, (long) i * s + t) * kvHeads + kh) * d;
                            want += p[t] * at(values, row + e);
                        }
                        want /= sum;
                        double got = at(out, ((long) i * heads + h) * d + e);
                        // one bf16 rounding of the result, plus f32 sums and a polynomial exp: 2^-8 relative + 1e-3
                        assertEquals(
                                want,
                                got,
                                0x1p-8 * Math.abs(want) + 1e-3,
                                heads + "/" + kvHeads + " heads, d " + d + ": seq " + i + " head " + h + " e " + e);
                    }
                }
            }
        }
    }

    @Test
    void aSlotOutsideTheCacheIsAnErrorNotARead() {
        assumeTrue(Bf16DecodeAttention.AVAILABLE, "the kernel is off: " + Bf16DecodeAttention.UNAVAILABLE_BECAUSE);
        try (TorchBackend backend = new TorchBackend();
                Scope scope = backend.open();
                Arena arena = Arena.ofConfined()) {
            Ops ops = backend.ops(scope);
            Tensor keys = ops.load(arena.allocate(2 * 8 * 2 * 32), DType.BF16, 8, 2, 32); // zeros
            Tensor q = ops.load(arena.allocate(2 * 4 * 32), DType.BF16, 1, 4, 32);
            Tensor slots = ops.fromLongs(new long[] {3, 8}, 1, 2); // 8 is past the cache's last slot
            IndexOutOfBoundsException e = assertThrows(
                    IndexOutOfBoundsException.class,
                    () -> ops.pagedDecodeAttention(q, keys, keys, slots, new int[] {2}, 1f));
            assertTrue(e.getMessage().contains("slot 8"), e.getMessage());
        }
    }

    private static double at(MemorySegment s, long i) {
        return Float.intBitsToFloat(s.getAtIndex(BF16, i) << 16);
    }
}
