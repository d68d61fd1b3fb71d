package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.ref.RefBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The ops a bf16 model runs, on bf16 tensors of {@link TorchBackend}, against {@link RefBackend} in float32
 * on the very same (bf16-representable) inputs; results must stay bf16. Checked as {@code |got - want| <=
 * tol · (1 + |want|)}.
 *
 * <p>Tolerances. bf16 keeps 8 significant bits, so rounding one value costs at most half an ulp, {@code
 * 2^-9} of its magnitude. Products of two bf16 numbers are exact in float32 and the kernels here accumulate
 * in float32 (oneDNN/MKL GEMM, GEMV, softmax, the flash-attention kernel), whose error at these lengths
 * (≤ 64 terms) is ~{@code 2^-18}, far below one bf16 rounding. So:
 *
 * <ul>
 *   <li>A result that adds two rounded terms (linear with a bias: the bf16 product, then the bias) is off by
 *       up to half an ulp of the larger term, so there the bound is {@code tol · (scale + |want|)} with
 *       {@code scale = 1 + max|x·Wᵀ|}.
 *   <li>{@link #ONE_ROUNDING} {@code = 2^-8}: ops whose only bf16 rounding is the result's (elementwise,
 *       linear, matmul, softmax, gather/scatter are exact anyway): {@code 2^-9} plus as much again of slack
 *       for float32 transcendentals and summation order.
 *   <li>{@link #CHAIN} {@code = 2^-6}: composites that round intermediates to bf16. Each rounding of an
 *       intermediate of magnitude ≤ 2 (inputs here are in [-2, 2], tables in [-1, 1]) moves the result by
 *       ≤ {@code 2·2^-9 = 2^-8} absolute; gelu rounds four intermediates, rotary three, rmsNorm two; the
 *       flash kernel rounds the softmax probabilities to bf16 before the P·V product, which moves the output
 *       by ≤ {@code 2^-9 · max|v| = 2^-8}. Four such steps: {@code 4 · 2^-8 = 2^-6}.
 * </ul>
 *
 * These are the rounding model's bounds, not fitted to measurements. Measured here (libtorch 2.7.1, AVX-512
 * BF16): up to 79% of {@code ONE_ROUNDING} (bf16 GEMM without a bias, whose K-blocked accumulation rounds a
 * little more than once) and up to 28% of {@code CHAIN} (rotary).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TorchBf16ParityTest {
    static final double ONE_ROUNDING = 0x1p-8;
    static final double CHAIN = 0x1p-6;

    private TensorBackend torchBackend;
    private RefBackend refBackend;
    private Scope torchScope;
    private Scope refScope;
    private Ops torch;
    private Ops ref;
    private Arena arena;
    private final Random random = new Random(20261204);

    @BeforeAll
    void open() {
        torchBackend = backendUnderTest();
        refBackend = new RefBackend();
    }

    /** libtorch on the CPU, dtype auto (bf16 inputs stay bf16); the GPU suite's subclass runs it on CUDA. */
    TensorBackend backendUnderTest() {
        return new TorchBackend();
    }

    @AfterAll
    void close() {
        if (torchBackend != null) { // null when opening was skipped (no such device)
            torchBackend.close();
        }
        if (refBackend != null) {
            refBackend.close();
        }
    }

    @BeforeEach
    void scopes() {
        torchScope = torchBackend.open();
        refScope = refBackend.open();
        torch = torchBackend.ops(torchScope);
        ref = refBackend.ops(refScope);
        arena = Arena.ofConfined();
    }

    @AfterEach
    void closeScopes() {
        torchScope.close();
        refScope.close();
        arena.close();
    }

    /** bf16-representable values in [lo, hi), stored as bf16 bytes. */
    private record In(MemorySegment bf16, float[] values, long[] shape) {}

    private In rand(float lo, float hi, long... shape) {
        int n = Math.toIntExact(Arrays.stream(shape).reduce(1, (x, y) -> x * y));
        MemorySegment seg = arena.allocate(2L * Math.max(1, n));
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            DType.BF16.setFloat(seg, i, lo + (hi - lo) * random.nextFloat());
            v[i] = DType.BF16.getFloat(seg, i);
        }
        return new In(seg.asSlice(0, 2L * n), v, shape);
    }

    private In rand(long... shape) {
        return rand(-2, 2, shape);
    }

    @FunctionalInterface
    private interface Op {
        Tensor apply(Ops b, Tensor[] in);
    }

    private void agree(String what, double tol, Op op, In... ins) {
        agree(what, tol, 1, op, ins);
    }

    /** As above, with the bound {@code tol · (scale + |want|)} for results that add rounded terms of size ~scale. */
    private void agree(String what, double tol, double scale, Op op, In... ins) {
        Tensor[] r = new Tensor[ins.length];
        Tensor[] t = new Tensor[ins.length];
        for (int i = 0; i < ins.length; i++) {
            r[i] = ref.fromFloats(ins[i].values(), ins[i].shape());
            t[i] = torch.load(ins[i].bf16(), DType.BF16, ins[i].shape());
            assertEquals(DType.BF16, t[i].dtype(), what + ": input " + i + " stays bf16");
        }
        Tensor want = op.apply(ref, r);
        Tensor got = op.apply(torch, t);
        assertEquals(DType.BF16, got.dtype(), what + ": result dtype");
        assertArrayEquals(want.shape(), got.shape(), what + ": shape");
        float[] w = want.toFloats();
        float[] g = got.toFloats();
        for (int i = 0; i < w.length; i++) {
            if (!(Math.abs(g[i] - w[i]) <= tol * (scale + Math.abs(w[i])))) {
                fail(what + ": element " + i + " is " + g[i] + ", want " + w[i] + " (bf16 tolerance " + tol + ")");
            }
        }
    }

    private static double maxAbs(Tensor t) {
        double m = 0;
        for (float f : t.toFloats()) {
            m = Math.max(m, Math.abs(f));
        }
        return m;
    }

    @Test
    void elementwise() {
        In a = rand(3, 8);
        In b = rand(8);
        agree("add", ONE_ROUNDING, (o, t) -> o.add(t[0], t[1]), a, b);
        agree("sub", ONE_ROUNDING, (o, t) -> o.sub(t[0], t[1]), a, b);
        agree("mul", ONE_ROUNDING, (o, t) -> o.mul(t[0], t[1]), a, b);
        agree("div", ONE_ROUNDING, (o, t) -> o.div(t[0], t[1]), a, rand(0.5f, 3f, 8));
        agree("scale", ONE_ROUNDING, (o, t) -> o.scale(t[0], 0.37f), a);
        agree("silu", ONE_ROUNDING, (o, t) -> o.silu(t[0]), a);
        agree("silu · mul", CHAIN, (o, t) -> o.siluMul(t[0], t[1]), a, rand(3, 8));
        agree("sigmoid", ONE_ROUNDING, (o, t) -> o.sigmoid(t[0]), a);
        agree("cos", ONE_ROUNDING, (o, t) -> o.cos(t[0]), a);
        agree("gelu", CHAIN, (o, t) -> o.gelu(t[0]), a);
    }

    @Test
    void linearAlgebraAndSoftmax() {
        In w = rand(24, 64); // [out, in]
        In bias = rand(24);
        for (long[] x : new long[][] {{1, 64}, {5, 64}, {2, 3, 64}}) {
            String s = Arrays.toString(x);
            In in = rand(-1f, 1f, x);
            // libtorch's bf16 addmv/addmm round the product to bf16 before adding the bias (as nn.Linear does in
            // Hugging Face's bf16 run): the bound scales with the product's size, not the result's.
            double product =
                    maxAbs(ref.linear(ref.fromFloats(in.values(), x), ref.fromFloats(w.values(), 24, 64), null));
            agree("linear+bias " + s, ONE_ROUNDING, 1 + product, (o, t) -> o.linear(t[0], t[1], t[2]), in, w, bias);
            agree("linear " + s, ONE_ROUNDING, (o, t) -> o.linear(t[0], t[1], null), in, w);
            // one row: linear, then the composed gelu (a CHAIN); more rows: GELU on the product, one more rounding
            agree("linearGelu " + s, CHAIN, 1 + product, (o, t) -> o.linearGelu(t[0], t[1], t[2]), in, w, bias);
        }
        agree("matmul", ONE_ROUNDING, (o, t) -> o.matmul(t[0], t[1]), rand(2, 4, 16), rand(16, 8));
        agree("softmax", ONE_ROUNDING, (o, t) -> o.softmaxLastAxis(t[0]), rand(-8f, 8f, 3, 33));
        agree("mean", ONE_ROUNDING, (o, t) -> o.meanLastAxis(t[0]), rand(3, 40));
    }

    @Test
    void normsRotaryAndShapes() {
        agree("rmsNorm", CHAIN, (o, t) -> o.rmsNorm(t[0], t[1], 1e-6f), rand(4, 64), rand(64));
        agree(
                "rotary",
                CHAIN,
                (o, t) -> o.rotary(t[0], t[1], t[2]),
                rand(4, 2, 16),
                rand(-1f, 1f, 4, 1, 16),
                rand(-1f, 1f, 4, 1, 16));
        In a = rand(2, 3, 4);
        agree("permute+reshape", 0, (o, t) -> o.reshape(o.permute(t[0], 1, 0, 2), 3, 8), a);
        agree("slice+concat", 0, (o, t) -> o.concat(List.of(o.slice(t[0], 1, 1, 3), t[0]), 1), a);
    }

    @Test
    void attentionKernels() {
        agree(
                "attention, GQA broadcast",
                CHAIN,
                (o, t) -> o.attention(t[0], t[1], t[2], null, 0.25f),
                rand(2, 3, 5, 16),
                rand(2, 1, 7, 16),
                rand(2, 1, 7, 16));
        In q = rand(4, 12, 16); // [H, N, d]
        In k = rand(4, 12, 16);
        In v = rand(4, 12, 16);
        for (int[] cu : new int[][] {{0, 12}, {0, 4, 8, 12}, {0, 5, 12}}) {
            agree(
                    "varlen " + Arrays.toString(cu),
                    CHAIN,
                    (o, t) -> o.varlenAttention(t[0], t[1], t[2], cu, 0.25f),
                    q,
                    k,
                    v);
        }
        for (int[] c : new int[][] {{0, 6}, {4, 3}, {6, 1}}) {
            int start = c[0];
            int n = c[1];
            long[] slots = {9, 2, 7, 0, 5, 3, 8};
            In keys = rand(10, 2, 16);
            In values = rand(10, 2, 16);
            In nq = rand(n, 4, 16);
            In nk = rand(n, 2, 16);
            In nv = rand(n, 2, 16);
            Op op = (o, t) -> {
                Tensor ctx = o.fromLongs(Arrays.copyOf(slots, start + n), start + n);
                Tensor fresh = o.fromLongs(Arrays.copyOfRange(slots, start, start + n), n);
                o.scatterRows(t[3], fresh, t[1]);
                o.scatterRows(t[4], fresh, t[2]);
                return o.pagedAttention(t[0], t[1], t[2], t[3], t[4], ctx, start, 0.25f);
            };
            agree("paged attention, start " + start + ", " + n + " new", CHAIN, op, nq, nk, nv, keys, values);
        }
    }

    /**
     * A batch's decode attention (on the CPU JEPD's AVX-512 kernel where the CPU has it): three sequences of 37, 1
     * and 20 context slots scattered over a 64-slot cache and padded to 37, at the LM's head size and at one that
     * leaves vector tails, for 2 and 8 query heads per KV head.
     */
    @Test
    void pagedDecodeAttentionOfABatch() {
        int[] lengths = {37, 1, 20};
        long s = 37;
        long[] table = new long[(int) (3 * s)];
        for (int i = 0; i < table.length; i++) {
            table[i] = (i * 29L + 11) % 64; // scattered, distinct within a row; padding reuses slots
        }
        for (long[] shape : new long[][] {{4, 2, 128}, {16, 2, 40}}) { // heads, KV heads, d
            long heads = shape[0];
            long kvHeads = shape[1];
            long d = shape[2];
            float scale = (float) (1 / Math.sqrt(d));
            agree(
                    "paged decode attention, " + heads + " heads over " + kvHeads + ", d " + d,
                    CHAIN,
                    (o, t) -> o.pagedDecodeAttention(t[0], t[1], t[2], o.fromLongs(table, 3, s), lengths, scale),
                    rand(3, heads, d),
                    rand(64, kvHeads, d),
                    rand(64, kvHeads, d));
        }
    }

    @Test
    void bf16BytesRoundTripExactly() {
        In a = rand(5, 7);
        Tensor t = torch.load(a.bf16(), DType.BF16, 5, 7);
        MemorySegment out = arena.allocate(a.bf16().byteSize());
        torchBackend.copyOut(t, out);
        assertEquals(-1, out.mismatch(a.bf16()), "copyOut gives back the stored bf16 bytes");
        if (torchBackend.device().type() != dev.jepd.tensor.Device.Type.CPU) {
            assertEquals(true, torchBackend.registrable(t).isEmpty(), "device memory is not host memory");
            return;
        }
        MemorySegment reg = torchBackend.registrable(t).orElseThrow();
        assertEquals(a.bf16().byteSize(), reg.byteSize());
        assertEquals(-1, reg.mismatch(a.bf16()), "registrable memory is the tensor's bf16 bytes");
        Tensor perm = torch.permute(t, 1, 0);
        assertEquals(true, torchBackend.registrable(perm).isEmpty(), "a strided view has no registrable segment");
        Tensor mixed = torch.linear(torch.fromFloats(new float[7], 1, 7), t, null);
        assertEquals(DType.BF16, mixed.dtype(), "linear computes in the weight's dtype");
    }
}
