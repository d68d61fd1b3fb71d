package dev.jepd.tensor.ref;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Every {@link TensorBackend} op of a backend under test against {@link RefBackend} on the same inputs:
 * shapes must match exactly, values within the tolerance stated per op as {@code |got - want| <= tol ·
 * (1 + |want|)} (NaN matches only NaN, infinities must be equal). A backend module subclasses this in its
 * tests and supplies {@link #openBackend()}. Tolerances: 0 for IEEE-exact ops (add, sub, mul, div, scale,
 * addScalar, neg, shape ops, gather/scatter, load, copyOut); {@value #TRANSCENDENTAL} for sqrt (libtorch's
 * vectorised sqrt may be one ulp off), cos, sin, sigmoid, silu, gelu; {@value #SUMS} for anything that sums
 * (mean, softmax, matmul, linear, norms, rotary, attention).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class OpsParitySuite {
    protected static final double EXACT = 0;
    protected static final double TRANSCENDENTAL = 2e-6;
    protected static final double SUMS = 2e-5;

    private TensorBackend backend;
    private RefBackend refBackend;
    private Scope opsScope;
    private Scope refScope;
    private Ops ops;
    private Ops ref;
    private final Random random = new Random(20250101);

    /** The backend under test; closed by the suite after the last test. */
    protected abstract TensorBackend openBackend();

    @BeforeAll
    void open() {
        backend = openBackend();
        refBackend = new RefBackend();
    }

    @AfterAll
    void close() {
        if (backend != null) { // null when opening was skipped (no such device)
            backend.close();
        }
        if (refBackend != null) {
            refBackend.close();
        }
    }

    @BeforeEach
    void scopes() {
        opsScope = backend.open();
        refScope = refBackend.open();
        ops = backend.ops(opsScope);
        ref = refBackend.ops(refScope);
    }

    @AfterEach
    void closeScopes() {
        opsScope.close();
        refScope.close();
    }

    // ---- inputs: the same values made in both backends

    /** An input tensor: floats or int64 indices with a shape. */
    protected record Arg(float[] floats, long[] longs, long[] shape) {
        Tensor make(Ops b) {
            return floats != null ? b.fromFloats(floats, shape) : b.fromLongs(longs, shape);
        }
    }

    /** Uniform in [lo, hi). */
    protected Arg rand(float lo, float hi, long... shape) {
        float[] d = new float[Math.toIntExact(Arrays.stream(shape).reduce(1, (x, y) -> x * y))];
        for (int i = 0; i < d.length; i++) {
            d[i] = lo + (hi - lo) * random.nextFloat();
        }
        return new Arg(d, null, shape);
    }

    protected Arg rand(long... shape) {
        return rand(-2, 2, shape);
    }

    protected static Arg floats(float[] data, long... shape) {
        return new Arg(data, null, shape);
    }

    protected static Arg index(long... rows) {
        return new Arg(null, rows, new long[] {rows.length});
    }

    /** An op applied to the inputs made in one backend. */
    @FunctionalInterface
    protected interface Op {
        Tensor apply(Ops b, Tensor[] in);
    }

    /** Runs {@code op} on both backends and compares the results. */
    protected void agree(String what, double tol, Op op, Arg... args) {
        Tensor want = op.apply(ref, make(ref, args));
        Tensor got = op.apply(ops, make(ops, args));
        compare(what, tol, want, got);
    }

    private static Tensor[] make(Ops b, Arg[] args) {
        Tensor[] t = new Tensor[args.length];
        for (int i = 0; i < args.length; i++) {
            t[i] = args[i].make(b);
        }
        return t;
    }

    private static void compare(String what, double tol, Tensor want, Tensor got) {
        assertArrayEquals(want.shape(), got.shape(), what + ": shape");
        float[] w = want.toFloats();
        float[] g = got.toFloats();
        assertEquals(w.length, g.length, what + ": element count");
        for (int i = 0; i < w.length; i++) {
            boolean ok = Float.isNaN(w[i])
                    ? Float.isNaN(g[i])
                    : Float.isInfinite(w[i]) ? w[i] == g[i] : Math.abs(g[i] - w[i]) <= tol * (1 + Math.abs(w[i]));
            if (!ok) {
                fail(what + ": element " + i + " of " + Arrays.toString(want.shape()) + " is " + g[i] + ", want " + w[i]
                        + " (tolerance " + tol + ")");
            }
        }
    }

    // ---- elementwise

    @Test
    void binaryOpsBroadcast() {
        long[][][] pairs = {
            {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{1}, {5}}, {{3, 1}, {1, 3}}, {{0, 4}, {4}}
        };
        for (long[][] p : pairs) {
            String s = Arrays.toString(p[0]) + " with " + Arrays.toString(p[1]);
            Arg a = rand(p[0]);
            Arg b = rand(p[1]);
            agree("add " + s, EXACT, (o, t) -> o.add(t[0], t[1]), a, b);
            agree("sub " + s, EXACT, (o, t) -> o.sub(t[0], t[1]), a, b);
            agree("mul " + s, EXACT, (o, t) -> o.mul(t[0], t[1]), a, b);
            agree("div " + s, EXACT, (o, t) -> o.div(t[0], t[1]), a, rand(0.5f, 3, p[1]));
        }
    }

    @Test
    void unaryOps() {
        for (long[] shape : new long[][] {{3, 7}, {1}, {0, 5}}) {
            String s = Arrays.toString(shape);
            Arg a = rand(-6, 6, shape);
            agree("scale " + s, EXACT, (o, t) -> o.scale(t[0], -0.37f), a);
            agree("addScalar " + s, EXACT, (o, t) -> o.addScalar(t[0], 1e-6f), a);
            agree("neg " + s, EXACT, (o, t) -> o.neg(t[0]), a);
            agree("sqrt " + s, TRANSCENDENTAL, (o, t) -> o.sqrt(t[0]), rand(0, 9, shape));
            agree("cos " + s, TRANSCENDENTAL, (o, t) -> o.cos(t[0]), a);
            agree("sin " + s, TRANSCENDENTAL, (o, t) -> o.sin(t[0]), a);
            agree("sigmoid " + s, TRANSCENDENTAL, (o, t) -> o.sigmoid(t[0]), a);
            agree("silu " + s, TRANSCENDENTAL, (o, t) -> o.silu(t[0]), a);
            agree("gelu " + s, TRANSCENDENTAL, (o, t) -> o.gelu(t[0]), a);
            agree("quickGelu " + s, TRANSCENDENTAL, (o, t) -> o.quickGelu(t[0]), a);
        }
    }

    // ---- reductions

    @Test
    void meanAndSoftmaxOverTheLastAxis() {
        for (long[] shape : new long[][] {{3, 5}, {2, 3, 4}, {1, 1}, {4, 1}}) {
            String s = Arrays.toString(shape);
            agree("mean " + s, SUMS, (o, t) -> o.meanLastAxis(t[0]), rand(shape));
            agree("softmax " + s, SUMS, (o, t) -> o.softmaxLastAxis(t[0]), rand(-20, 20, shape));
        }
        float inf = Float.NEGATIVE_INFINITY;
        Arg masked = floats(new float[] {1, inf, 2, inf, inf, 5, 80, 90, 100}, 3, 3);
        agree("softmax with -inf entries", SUMS, (o, t) -> o.softmaxLastAxis(t[0]), masked);
    }

    // ---- linear algebra

    @Test
    void matmulBroadcastsLeadingAxes() {
        long[][][] pairs = {
            {{2, 3}, {3, 4}},
            {{4, 3, 5}, {5, 2}},
            {{2, 1, 3, 4}, {5, 4, 6}},
            {{2, 3, 4, 8}, {2, 1, 8, 5}}, // GQA: [kvH, g, n, d] @ [kvH, 1, d, S]
            {{1, 6}, {6, 1}},
            {{0, 3}, {3, 2}}
        };
        for (long[][] p : pairs) {
            agree(
                    "matmul " + Arrays.toString(p[0]) + " @ " + Arrays.toString(p[1]),
                    SUMS,
                    (o, t) -> o.matmul(t[0], t[1]),
                    rand(p[0]),
                    rand(p[1]));
        }
    }

    @Test
    void linearOneRowManyRowsAndLeadingAxes() {
        Arg w = rand(5, 8); // [out, in]
        Arg b = rand(5);
        for (long[] x : new long[][] {{1, 8}, {7, 8}, {2, 3, 8}, {1, 1, 8}, {0, 8}}) {
            String s = Arrays.toString(x);
            Arg in = rand(x);
            agree("linear+bias " + s, SUMS, (o, t) -> o.linear(t[0], t[1], t[2]), in, w, b);
            agree("linear " + s, SUMS, (o, t) -> o.linear(t[0], t[1], null), in, w);
            // exact (erf) GELU: tanh's approximation is up to ~2e-4 away at these sizes, far outside SUMS
            agree("linearGelu " + s, SUMS, (o, t) -> o.linearGelu(t[0], t[1], t[2]), in, w, b);
        }
    }

    // ---- shape

    @Test
    void reshapePermuteConcatSlice() {
        Arg a = rand(2, 3, 4);
        agree("reshape", EXACT, (o, t) -> o.reshape(t[0], 6, 4), a);
        agree("reshape -1", EXACT, (o, t) -> o.reshape(t[0], 3, -1), a);
        agree("permute", EXACT, (o, t) -> o.permute(t[0], 2, 0, 1), a);
        agree("reshape of a permuted view", EXACT, (o, t) -> o.reshape(o.permute(t[0], 1, 0, 2), 3, 8), a);
        agree("permuteLastTwo", EXACT, (o, t) -> o.permuteLastTwo(t[0]), a);
        Arg b = rand(2, 5, 4);
        agree("concat axis 1", EXACT, (o, t) -> o.concat(List.of(t[0], t[1], t[0]), 1), a, b);
        agree("concat axis -1", EXACT, (o, t) -> o.concat(List.of(t[0], t[0]), -1), a);
        agree("concat axis 0", EXACT, (o, t) -> o.concat(List.of(t[0], t[0]), 0), a);
        agree("concat one part", EXACT, (o, t) -> o.concat(List.of(t[0]), 2), a);
        agree("slice middle", EXACT, (o, t) -> o.slice(t[0], 1, 1, 3), a);
        agree("slice whole axis", EXACT, (o, t) -> o.slice(t[0], 0, 0, 2), a);
        agree("slice negative axis", EXACT, (o, t) -> o.slice(t[0], -1, 2, 4), a);
        agree("slice empty at the end", EXACT, (o, t) -> o.slice(t[0], 2, 4, 4), a);
        agree("slice of a permuted view", EXACT, (o, t) -> o.slice(o.permute(t[0], 1, 0, 2), 0, 1, 2), a);
    }

    @Test
    void gatherAndScatterRows() {
        Arg cache = rand(6, 2, 3); // [slots, kvH, d]
        agree("gather repeated rows", EXACT, (o, t) -> o.gatherRows(t[0], t[1]), cache, index(5, 0, 5, 2));
        agree("gather one row", EXACT, (o, t) -> o.gatherRows(t[0], t[1]), cache, index(3));
        agree("gather 2-D rows", EXACT, (o, t) -> o.gatherRows(t[0], t[1]), rand(4, 3), index(3, 1));
        Op scatter = (o, t) -> {
            Tensor dst = o.add(t[0], o.zeros(6, 2, 3)); // a fresh copy: scatterRows writes in place
            o.scatterRows(dst, t[1], t[2]);
            return dst;
        };
        agree("scatter rows", EXACT, scatter, cache, index(4, 1), rand(2, 2, 3));
        agree("scatter one row", EXACT, scatter, cache, index(0), rand(1, 2, 3));
    }

    // ---- composites

    @Test
    void normsRotaryAndAttention() {
        Arg x = rand(3, 8);
        agree("rmsNorm", SUMS, (o, t) -> o.rmsNorm(t[0], t[1], 1e-6f), x, rand(8));
        agree("rmsNorm one row", SUMS, (o, t) -> o.rmsNorm(t[0], t[1], 1e-6f), rand(1, 8), rand(8));
        agree("layerNorm", SUMS, (o, t) -> o.layerNorm(t[0], t[1], t[2], 1e-6f), x, rand(8), rand(8));
        agree(
                "rotary [T, H, d] with [T, 1, d] tables",
                SUMS,
                (o, t) -> o.rotary(t[0], t[1], t[2]),
                rand(4, 2, 6),
                rand(-1f, 1f, 4, 1, 6),
                rand(-1f, 1f, 4, 1, 6));
        float inf = Float.NEGATIVE_INFINITY;
        Arg mask = floats(new float[] {0, inf, inf, 0, 0, inf}, 2, 3); // [T, S]
        agree(
                "attention with a [T, S] mask",
                SUMS,
                (o, t) -> o.attention(t[0], t[1], t[2], t[3], 0.5f),
                rand(2, 2, 4),
                rand(2, 3, 4),
                rand(2, 3, 4),
                mask);
        agree(
                "attention broadcasting kv over groups",
                SUMS,
                (o, t) -> o.attention(t[0], t[1], t[2], null, 0.35f),
                rand(2, 3, 5, 4),
                rand(2, 1, 6, 4),
                rand(2, 1, 6, 4));
    }

    /** A GQA cache of 10 slots, 2 KV heads, d = 4, 4 query heads; the sequence lives at scattered slots. */
    private void pagedCase(String what, int start, int n) {
        pagedCase(what, start, n, true);
    }

    /** {@code passNew}: hand the new keys/values to the op, or pass null and let it read them from the cache. */
    private void pagedCase(String what, int start, int n, boolean passNew) {
        long[] slots = {7, 2, 9, 0, 5, 3, 8};
        int s = start + n;
        Arg keys = rand(10, 2, 4);
        Arg values = rand(10, 2, 4);
        Arg q = rand(n, 4, 4);
        Arg k = rand(n, 2, 4);
        Arg v = rand(n, 2, 4);
        Arg ctx = index(Arrays.copyOf(slots, s));
        Arg fresh = index(Arrays.copyOfRange(slots, start, s));
        Op op = (o, t) -> {
            Tensor kc = o.add(t[3], o.zeros(10, 2, 4)); // fresh copies, written as the decoder writes them
            Tensor vc = o.add(t[4], o.zeros(10, 2, 4));
            o.scatterRows(kc, t[6], t[1]);
            o.scatterRows(vc, t[6], t[2]);
            return o.pagedAttention(t[0], passNew ? t[1] : null, passNew ? t[2] : null, kc, vc, t[5], start, 0.5f);
        };
        agree(what, SUMS, op, q, k, v, keys, values, ctx, fresh);
    }

    @Test
    void pagedAttentionPrefillContinuationAndDecode() {
        pagedCase("paged attention, fresh prefill", 0, 5);
        pagedCase("paged attention, one-token prompt", 0, 1);
        pagedCase("paged attention, chunk continuing a sequence", 3, 4);
        pagedCase("paged attention, decode", 6, 1);
        pagedCase("paged attention, continuing chunk, new keys read from the cache", 3, 4, false);
        pagedCase("paged attention, decode, new keys read from the cache", 6, 1, false);
    }

    /**
     * Three sequences decoding together over one GQA cache of 12 slots (2 KV heads, 4 query heads, d = 4), with
     * contexts of 5, 1 and 3 slots scattered over the cache, padded to 5 with slots the mask must hide; the default
     * (the reference) runs {@code pagedAttention} per sequence, a backend may run one kernel.
     */
    @Test
    void pagedDecodeAttentionOfABatch() {
        int[] lengths = {5, 1, 3};
        long[] table = {
            7, 2, 9, 0, 5, //
            11, 11, 11, 11, 11, // padding: slot 11, and slots the others use
            4, 10, 1, 7, 2
        };
        Arg keys = rand(12, 2, 4);
        Arg values = rand(12, 2, 4);
        Arg q = rand(3, 4, 4);
        Arg slots = index(table);
        agree(
                "paged decode attention, a batch of three",
                SUMS,
                (o, t) -> o.pagedDecodeAttention(t[0], t[1], t[2], o.reshape(t[3], 3, 5), lengths, 0.5f),
                q,
                keys,
                values,
                slots);
        agree(
                "paged decode attention, one sequence",
                SUMS,
                (o, t) -> o.pagedDecodeAttention(
                        o.slice(t[0], 0, 0, 1),
                        t[1],
                        t[2],
                        o.reshape(o.slice(t[3], 0, 0, 5), 1, 5),
                        new int[] {5},
                        0.5f),
                q,
                keys,
                values,
                slots);
    }

    @Test
    void varlenAttentionIsBlockDiagonal() {
        Arg q = rand(3, 10, 4);
        Arg k = rand(3, 10, 4);
        Arg v = rand(3, 10, 4);
        for (int[] cu : new int[][] {{0, 10}, {0, 3, 7, 10}, {0, 1, 10}}) {
            agree(
                    "varlen attention " + Arrays.toString(cu),
                    SUMS,
                    (o, t) -> o.varlenAttention(t[0], t[1], t[2], cu, 0.5f),
                    q,
                    k,
                    v);
        }
    }

    // ---- dtypes, devices, bytes

    @Test
    void loadFromStoredBytesOfEveryFloatType() {
        float[] values = {0, 1, -1, 0.1f, -2.5e-3f, 65504, 3.1415927f, -7.25f, 1e-5f, 123.456f, -0.0f, 42};
        try (Arena arena = Arena.ofConfined()) {
            for (DType dt : List.of(DType.F32, DType.BF16, DType.F16)) {
                MemorySegment stored = arena.allocate(values.length * dt.byteSize());
                for (int i = 0; i < values.length; i++) {
                    dt.setFloat(stored, i, values[i]);
                }
                Tensor want = ref.load(stored, dt, 3, 4);
                Tensor got = ops.load(stored, dt, 3, 4);
                compare("load " + dt, EXACT, want, got);
                assertTrue(got.dtype().isFloatingPoint(), "load " + dt + " dtype");
                float[] exact = new float[values.length];
                for (int i = 0; i < values.length; i++) {
                    exact[i] = dt.getFloat(stored, i);
                }
                assertArrayEquals(exact, got.toFloats(), "load " + dt + " widens exactly");
            }
        }
    }

    @Test
    void copyOutWritesLittleEndianRowMajorBytes() {
        Arg a = rand(3, 5);
        Tensor r = ref.permute(a.make(ref), 1, 0); // a permuted view must come out in logical order
        Tensor o = ops.permute(a.make(ops), 1, 0);
        assertEquals(DType.F32, o.dtype());
        assertEquals(r.dtype(), o.dtype());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment want = arena.allocate(15 * 4);
            MemorySegment got = arena.allocate(15 * 4);
            refBackend.copyOut(r, want);
            backend.copyOut(o, got);
            assertArrayEquals(want.toArray(ValueLayout.JAVA_BYTE), got.toArray(ValueLayout.JAVA_BYTE), "f32 bytes");
            Tensor li = ops.fromLongs(new long[] {1, -2, 1L << 40}, 3);
            assertEquals(DType.I64, li.dtype());
            MemorySegment longs = arena.allocate(3 * 8);
            backend.copyOut(li, longs);
            assertEquals(1L << 40, DType.I64.getLong(longs, 2));
            assertEquals(-2L, DType.I64.getLong(longs, 1));
            assertArrayEquals(new long[] {1, -2, 1L << 40}, li.toLongs());
        }
    }

    @Test
    void devicesAndRegistrableMemoryAgreeWithCopyOut() {
        Tensor t = ops.fromFloats(new float[] {1, 2, 3}, 3);
        assertEquals(backend.device(), t.device());
        assertTrue(backend.device().type() != null);
        Optional<MemorySegment> seg = backend.registrable(t);
        if (seg.isPresent()) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment copy = arena.allocate(12);
                backend.copyOut(t, copy);
                assertEquals(-1, copy.mismatch(seg.get().asSlice(0, 12)), "registrable memory holds the tensor");
            }
        }
        assertEquals(Device.CPU, refBackend.device());
    }
}
