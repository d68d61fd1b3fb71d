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
 * JEPD's causal (prefill) attention kernel against attention computed here in doubles from the same bf16 values:
 * called directly with strided operands (query rows with NaN between them, keys and values interleaved in one
 * buffer), partial blocks of queries and keys, grouped heads, a chunk after cached context, one query; and through
 * {@code pagedAttention}, a fresh prompt, a chunk and one query whose context is gathered from scattered cache
 * slots.
 */
class Bf16CausalAttentionTest {
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    /** bf16 NaN: where the kernel must not read. */
    private static final short NAN = (short) 0x7FC0;

    @Test
    void agreesWithAttentionInDoubles() {
        assumeTrue(Bf16CausalAttention.AVAILABLE, "the kernel is off: " + Bf16CausalAttention.UNAVAILABLE_BECAUSE);
        // {n, q0, heads, kvHeads, d}
        long[][] shapes = {
            {70, 0, 6, 2, 64}, // a partial second block of queries and keys, 3 heads a group
            {130, 0, 4, 4, 80}, // d not a multiple of 32, no grouping
            {37, 50, 8, 2, 128}, // a chunk after 50 cached positions: keys past each query hidden
            {1, 299, 16, 2, 128}, // one query (a decode step) over 300 keys
            {200, 0, 2, 1, 16}, // the smallest head size, four blocks
        };
        Random random = new Random(20261206);
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared()) {
            backend.warmUp(); // the RMSNorm kernel's background warm-up holds the pool until it is done
            for (long[] sh : shapes) {
                long n = sh[0];
                long q0 = sh[1];
                long heads = sh[2];
                long kvHeads = sh[3];
                long d = sh[4];
                long s = q0 + n;
                long qts = heads * d + 8; // 8 NaN between query rows
                MemorySegment q = Bf16TestData.random(arena, random, n * qts, 2f);
                for (long i = 0; i < n * qts; i++) {
                    if (i % qts >= heads * d) {
                        q.setAtIndex(BF16, i, NAN);
                    }
                }
                long kvts = 2 * kvHeads * d; // [S, 2, kvH, d]: each token's keys, then its values
                MemorySegment kv = Bf16TestData.random(arena, random, s * kvts, 2f);
                MemorySegment k = kv;
                MemorySegment v = kv.asSlice(2 * kvHeads * d);
                MemorySegment out = arena.allocate(2 * n * heads * d, 64);
                float scale = (float) (1 / Math.sqrt(d));
                assertTrue(Bf16CausalAttention.tryRun(
                        q, d, qts, k, d, kvts, v, d, kvts, n, s, q0, heads, kvHeads, d, scale, out, d, heads * d));
                for (long i = 0; i < n; i++) {
                    for (long h = 0; h < heads; h++) {
                        double[] want =
                                reference(q, i * qts + h * d, k, v, kvts, h / (heads / kvHeads) * d, q0 + i, d, scale);
                        for (int e = 0; e < d; e++) {
                            double got = at(out, (i * heads + h) * d + e);
                            // one bf16 rounding of the result, the terms rounded to bf16 for the values' product,
                            // f32 sums and a polynomial exp: 2^-7 relative + 2e-3
                            assertEquals(
                                    want[e],
                                    got,
                                    0x1p-7 * Math.abs(want[e]) + 2e-3,
                                    java.util.Arrays.toString(sh) + ": query " + i + " head " + h + " e " + e);
                        }
                    }
                }
            }
        }
    }

    /** Query row at {@code qOff} against keys and values 0..pos (token stride {@code ts}, head offset kvOff). */
    private static double[] reference(
            MemorySegment q,
            long qOff,
            MemorySegment k,
            MemorySegment v,
            long ts,
            long kvOff,
            long pos,
            long d,
            float scale) {
        double[] p = new double[(int) pos + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j <= pos; j++) {
            double dot = 0;
            for (int e = 0; e < d; e++) {
                dot += at(q, qOff + e) * at(k, j * ts + kvOff + e);
            }
            p[j] = dot * scale;
            max = Math.max(max, p[j]);
        }
        double sum = 0;
        for (int j = 0; j <= pos; j++) {
            p[j] = Math.exp(p[j] - max);
            sum += p[j];
        }
        double[] o = new double[(int) d];
        for (int e = 0; e < d; e++) {
            double a = 0;
            for (int j = 0; j <= pos; j++) {
                a += p[j] * at(v, j * ts + kvOff + e);
            }
            o[e] = a / sum;
        }
        return o;
    }

    @Test
    void pagedAttentionTakesTheKernelForAFreshPromptAndAChunk() {
        assumeTrue(
                Bf16CausalAttention.AVAILABLE && TorchOps.NATIVE_ATTENTION,
                "the kernel is off: " + Bf16CausalAttention.UNAVAILABLE_BECAUSE);
        Random random = new Random(3);
        long heads = 8;
        long kvHeads = 2;
        long d = 64;
        long slots = 400;
        float scale = 0.125f;
        try (TorchBackend backend = new TorchBackend();
                Arena arena = Arena.ofShared();
                Scope scope = backend.open()) {
            backend.warmUp();
            Ops ops = backend.ops(scope);
            MemorySegment kc = Bf16TestData.random(arena, random, slots * kvHeads * d, 2f);
            MemorySegment vc = Bf16TestData.random(arena, random, slots * kvHeads * d, 2f);
            Tensor keyCache = ops.load(kc, DType.BF16, slots, kvHeads, d);
            Tensor valueCache = ops.load(vc, DType.BF16, slots, kvHeads, d);
            // a fresh prompt, a chunk after cached context, one query after it
            for (int[] c : new int[][] {{0, 75}, {90, 75}, {120, 1}}) {
                int queryStart = c[0];
                long n = c[1];
                long s = queryStart + n;
                long[] slotIds = new long[(int) s];
                for (int j = 0; j < s; j++) {
                    slotIds[j] = (j * 7L + 3) % slots; // scattered, distinct
                }
                MemorySegment qs = Bf16TestData.random(arena, random, n * heads * d, 2f);
                Tensor q = ops.load(qs, DType.BF16, n, heads, d);
                // the chunk's own keys and values: for a fresh prompt the op reads them as given, else from the cache
                MemorySegment kn = arena.allocate(2 * n * kvHeads * d, 64);
                MemorySegment vn = arena.allocate(2 * n * kvHeads * d, 64);
                for (int j = 0; j < n; j++) {
                    long slot = slotIds[queryStart + j];
                    MemorySegment.copy(kc, 2 * slot * kvHeads * d, kn, 2L * j * kvHeads * d, 2 * kvHeads * d);
                    MemorySegment.copy(vc, 2 * slot * kvHeads * d, vn, 2L * j * kvHeads * d, 2 * kvHeads * d);
                }
                Tensor k = ops.load(kn, DType.BF16, n, kvHeads, d);
                Tensor v = ops.load(vn, DType.BF16, n, kvHeads, d);
                Tensor got =
                        ops.pagedAttention(q, k, v, keyCache, valueCache, ops.fromLongs(slotIds, s), queryStart, scale);
                float[] g = got.toFloats();
                // the context in position order, as the reference reads it
                MemorySegment ctx = arena.allocate(2 * s * 2 * kvHeads * d, 64);
                for (int j = 0; j < s; j++) {
                    MemorySegment.copy(
                            kc, 2 * slotIds[j] * kvHeads * d, ctx, 2L * j * 2 * kvHeads * d, 2 * kvHeads * d);
                    MemorySegment.copy(
                            vc, 2 * slotIds[j] * kvHeads * d, ctx, 2L * (j * 2 + 1) * kvHeads * d, 2 * kvHeads * d);
                }
                for (long i = 0; i < n; i++) {
                    for (long h = 0; h < heads; h++) {
                        double[] want = reference(
                                qs,
                                (i * heads + h) * d,
                                ctx,
                                ctx.asSlice(2 * kvHeads * d),
                                2 * kvHeads * d,
                                h / (heads / kvHeads) * d,
                                queryStart + i,
                                d,
                                scale);
                        for (int e = 0; e < d; e++) {
                            assertEquals(
                                    want[e],
                                    g[(int) ((i * heads + h) * d + e)],
                                    0x1p-7 * Math.abs(want[e]) + 2e-3,
                                    "query start " + queryStart + ": query " + i + " head " + h + " e " + e);
                        }
                    }
                }
                // and it is this kernel's answer, bit for bit
                MemorySegment direct = arena.allocate(2 * n * heads * d, 64);
                assertTrue(Bf16CausalAttention.tryRun(
                        qs,
                        d,
                        heads * d,
                        ctx,
                        d,
                        2 * kvHeads * d,
                        ctx.asSlice(2 * kvHeads * d),
                        d,
                        2 * kvHeads * d,
                        n,
                        s,
                        queryStart,
                        heads,
                        kvHeads,
                        d,
                        scale,
                        direct,
                        d,
                        heads * d));
                for (int i = 0; i < g.length; i++) {
                    assertEquals(at(direct, i), g[i], "element " + i);
                }
            }
        }
    }

    private static double at(MemorySegment s, long i) {
        return Float.intBitsToFloat(s.getAtIndex(BF16, i) << 16);
    }
}
