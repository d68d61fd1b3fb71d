package dev.jepd.tensor.torch;

import static dev.jepd.tensor.torch.StableIValues.ofBool;
import static dev.jepd.tensor.torch.StableIValues.ofInt;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Every op of the libtorch backend, in one place. Each result becomes a tensor of the owning scope in
 * exactly one method, {@link #own}; intermediates that never reach the caller are dropped as soon as they
 * are used. Elementwise and shape ops follow torch's semantics (broadcasting, type promotion, views for
 * {@code permute} and {@code slice}); {@code linear}, {@code attention}, {@code pagedAttention} and
 * {@code varlenAttention} are single libtorch kernels (GEMV/GEMM with the bias folded in, CPU flash
 * attention), so attention memory is linear in tokens.
 */
final class TorchOps implements Ops {
    /**
     * One-row bf16 products on the CPU go through {@link Bf16MatVec} when the JVM has the Vector API
     * ({@code --add-modules jdk.incubator.vector}, as bin/jepd starts it); {@code -Djepd.bf16.matvec=false}
     * leaves them to libtorch (for A/B runs).
     */
    static final boolean JAVA_MATVEC =
            Bf16MatVec.Support.AVAILABLE && !"false".equals(System.getProperty("jepd.bf16.matvec"));

    /**
     * RMSNorm of bf16 tensors on the CPU goes through {@link Bf16Rows} (one pass instead of libtorch's eight kernels)
     * when the JVM has the Vector API; {@code -Djepd.bf16.rows=false} leaves it to libtorch (for A/B runs).
     */
    static final boolean JAVA_ROWS =
            Bf16MatVec.Support.AVAILABLE && !"false".equals(System.getProperty("jepd.bf16.rows"));

    /**
     * bf16 products of 2 to {@link Bf16Amx#MAX_ROWS} rows on the CPU go through {@link Bf16Amx} (JEPD's AMX kernel)
     * where the library was built and the CPU has AMX-BF16; {@code -Djepd.amx=false} leaves them to libtorch.
     */
    static final boolean AMX_ROWS = Bf16Amx.AVAILABLE;

    /**
     * bf16 products of {@link Bf16AmxGemm#MIN_ROWS} rows or more (prefill, the vision tower) on the CPU go through
     * {@link Bf16AmxGemm} (JEPD's GEMM: on AMX tiles, else on AVX-512 BF16) where it runs; {@code
     * -Djepd.amx.gemm=false} leaves them to libtorch's oneDNN (for A/B runs); {@code -Djepd.amx=false} moves them to
     * the AVX-512 BF16 build.
     */
    static final boolean AMX_GEMM = Bf16AmxGemm.AVAILABLE && !"false".equals(System.getProperty("jepd.amx.gemm"));

    /**
     * With {@link #AMX_GEMM}, the gated MLP's two products and SiLU·mul ({@link #linearSiluMul}), and a product and
     * its exact GELU ({@link #linearGelu}), run as one pass of the GEMM; {@code -Djepd.amx.fused=false} runs them as
     * separate ops (the products still on the GEMM; the GELU's product with libtorch's {@code _addmm_activation}),
     * for A/B runs.
     */
    static final boolean AMX_FUSED = AMX_GEMM && !"false".equals(System.getProperty("jepd.amx.fused"));

    /**
     * A batch's decode attention on the CPU goes through {@link Bf16DecodeAttention} (JEPD's AVX-512 kernel) for bf16
     * caches where the library was built and the CPU has AVX-512 BF16, a prompt's causal attention through {@link
     * Bf16CausalAttention} (AVX-512 BF16), and
     * attention within short segments (the vision windows) through {@link Bf16SegmentAttention} (AMX or AVX-512 BF16);
     * {@code -Djepd.native.attention=false} leaves all of them to libtorch.
     */
    static final boolean NATIVE_ATTENTION =
            Bf16DecodeAttention.AVAILABLE && !"false".equals(System.getProperty("jepd.native.attention"));

    /**
     * bf16 {@code silu(gate) · up} and the rotary embedding on the CPU go through {@link Bf16Elementwise} (one pass of
     * JEPD's AVX-512 kernels each, rounded as libtorch's composition rounds) where the library was built and the CPU
     * has AVX-512 BF16; {@code -Djepd.native.elementwise=false} leaves them to libtorch.
     */
    static final boolean NATIVE_ELEMENTWISE =
            Bf16Elementwise.AVAILABLE && !"false".equals(System.getProperty("jepd.native.elementwise"));

    private final TorchRuntime rt;
    private final AotiShim shim;
    private final AotiShim.Kernels kern;
    private final TorchScope owner; // null only for the backend's scope-free copies (copyOut, registrable)
    private final DType made; // what fromFloats and zeros make
    private final DType loaded; // what floating weights are loaded as; null: as stored (F16 as F32)

    /**
     * @param owner the scope every result belongs to
     * @param dtype the floating dtype of everything made or loaded; null keeps each checkpoint tensor's own
     *     dtype and makes F32 from floats
     */
    TorchOps(TorchRuntime rt, TorchScope owner, DType dtype) {
        this.rt = rt;
        this.shim = rt.shim();
        this.kern = rt.kernels();
        this.owner = owner;
        this.made = dtype == null ? DType.F32 : dtype;
        this.loaded = dtype;
    }

    @Override
    public Scope scope() {
        return owner;
    }

    /** The one place a libtorch handle becomes a tensor of the owning scope. */
    private Tensor own(long handle) {
        if (owner == null || owner.isClosed()) {
            shim.delete(handle);
            throw new IllegalStateException("tensor op on a closed scope");
        }
        TorchTensor t = new TorchTensor(rt, handle);
        owner.adopt(t);
        return t;
    }

    private static long h(Tensor t) {
        return ((TorchTensor) t).handle();
    }

    // ---- creation and reading

    @Override
    public Tensor fromFloats(float[] data, long... shape) {
        checkCount(data.length, shape);
        long host = rt.hostEmpty(shape, DType.F32);
        if (data.length > 0) {
            MemorySegment.copy(data, 0, rt.host(host, 4L * data.length), ValueLayout.JAVA_FLOAT, 0, data.length);
        }
        long out = rt.upload(host, shape, DType.F32);
        if (made != DType.F32) {
            long c = rt.empty(shape, made);
            shim.copy(c, out); // libtorch rounds to nearest even, as .to(torch.bfloat16)
            shim.delete(out);
            out = c;
        }
        return own(out);
    }

    @Override
    public Tensor fromLongs(long[] data, long... shape) {
        checkCount(data.length, shape);
        long host = rt.hostEmpty(shape, DType.I64);
        if (data.length > 0) {
            MemorySegment.copy(data, 0, rt.host(host, 8L * data.length), ValueLayout.JAVA_LONG, 0, data.length);
        }
        return own(rt.upload(host, shape, DType.I64));
    }

    @Override
    public Tensor zeros(long... shape) {
        long out = rt.empty(shape, made);
        shim.zero(out);
        return own(out);
    }

    /**
     * libtorch reads the stored bytes itself: a tensor is made over {@code stored} ({@code
     * create_tensor_from_blob}) and copied once into memory libtorch owns: in the backend's dtype when it has
     * one (libtorch converts), else in the stored dtype for BF16, F32 and the integers (bf16 weights stay
     * bf16) and F16 as F32. The copy is what the SPI promises (the caller may unmap {@code stored}).
     */
    @Override
    public Tensor load(MemorySegment stored, DType storedType, long... shape) {
        long numel = TorchRuntime.numel(shape);
        if (stored.byteSize() != numel * storedType.byteSize()) {
            throw new IllegalArgumentException("stored " + storedType + " tensor of shape " + Arrays.toString(shape)
                    + " needs " + numel * storedType.byteSize() + " bytes, got " + stored.byteSize());
        }
        DType target = !storedType.isFloatingPoint()
                ? storedType
                : loaded != null ? loaded : storedType == DType.F16 ? DType.F32 : storedType;
        if (target == DType.BF16 && JAVA_ROWS && rt.onHost()) {
            Bf16Rows.warmUpInBackground(); // a bf16 model is loading: compile the row kernels meanwhile
        }
        long out = rt.empty(shape, target);
        if (numel == 0) {
            return own(out);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = stored.isNative()
                    ? stored
                    : arena.allocate(stored.byteSize(), 8).copyFrom(stored);
            long blob = shim.fromBlob(
                    src.address(),
                    shape,
                    TorchRuntime.contiguousStrides(shape),
                    rt.code(storedType),
                    shim.deviceCpu,
                    0);
            try {
                shim.copy(out, blob);
            } finally {
                shim.delete(blob);
            }
        } catch (RuntimeException e) {
            shim.delete(out);
            throw e;
        }
        return own(out);
    }

    void copyOut(Tensor t, MemorySegment dst) {
        long bytes = t.numel() * t.dtype().byteSize();
        if (dst.byteSize() < bytes) {
            throw new IllegalArgumentException("copyOut of " + t + " needs " + bytes + " bytes, got " + dst.byteSize());
        }
        long c = rt.hostContiguous(h(t), t.shape(), t.dtype(), t.dtype());
        try {
            if (bytes > 0) {
                MemorySegment.copy(rt.host(c, bytes), 0, dst, 0, bytes);
            }
        } finally {
            shim.delete(c);
        }
    }

    /** A row-major host tensor's own memory, valid while the tensor lives; empty for a strided view or a device tensor. */
    Optional<MemorySegment> registrable(Tensor t) {
        TorchTensor tt = (TorchTensor) t;
        if (!rt.onHost() || !TorchRuntime.isContiguous(tt.shape(), tt.strides())) {
            // device memory is not the host's: NIXL registration of VRAM is still to come
            return Optional.empty();
        }
        return Optional.of(rt.host(tt.handle(), tt.numel() * tt.dtype().byteSize()));
    }

    // ---- elementwise

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return own(kern.addTensor(h(a), h(b), 1.0));
    }

    /** {@code a + (-1)·b}: negating is exact, so this is {@code a - b} to the bit. */
    @Override
    public Tensor sub(Tensor a, Tensor b) {
        return own(kern.addTensor(h(a), h(b), -1.0));
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        return own(binary("aten::mul", "Tensor", h(a), h(b)));
    }

    @Override
    public Tensor div(Tensor a, Tensor b) {
        return own(binary("aten::div", "Tensor", h(a), h(b)));
    }

    @Override
    public Tensor scale(Tensor a, float s) {
        return own(kern.mulScalar(h(a), s));
    }

    @Override
    public Tensor addScalar(Tensor a, float s) {
        return own(kern.addScalar(h(a), s, 1.0));
    }

    @Override
    public Tensor neg(Tensor a) {
        return own(unary("aten::neg", h(a)));
    }

    @Override
    public Tensor cos(Tensor a) {
        return own(unary("aten::cos", h(a)));
    }

    @Override
    public Tensor sin(Tensor a) {
        return own(unary("aten::sin", h(a)));
    }

    @Override
    public Tensor sqrt(Tensor a) {
        return own(unary("aten::sqrt", h(a)));
    }

    @Override
    public Tensor sigmoid(Tensor a) {
        return own(unary("aten::sigmoid", h(a)));
    }

    @Override
    public Tensor silu(Tensor a) {
        return own(unary("aten::silu", h(a)));
    }

    /**
     * {@code (x · 0.5) · (1 + erf(x · √½))}, the formula of torch's own exact-GELU kernel, from its parts:
     * {@code aten::gelu} takes its {@code approximate} flag as a string, which libtorch 2.7's dispatcher
     * stack cannot carry.
     */
    @Override
    public Tensor gelu(Tensor a) {
        long x = h(a);
        long t = kern.mulScalar(x, 0.7071067811865476);
        long e = unary("aten::erf", t);
        shim.delete(t);
        long u = kern.addScalar(e, 1.0, 1.0);
        shim.delete(e);
        long half = kern.mulScalar(x, 0.5);
        long out = binary("aten::mul", "Tensor", half, u);
        shim.delete(half);
        shim.delete(u);
        return own(out);
    }

    // ---- reductions

    @Override
    public Tensor meanLastAxis(Tensor a) {
        return own(meanLast(h(a), a.dim(-1), a.dtype()));
    }

    /**
     * {@code mean(x, -1, keepdim=True)} as one GEMV against ones, then {@code · 1/d}: {@code aten::mean.dim}
     * takes its axes as a list, which libtorch 2.7's dispatcher stack cannot carry.
     */
    private long meanLast(long x, long d, DType dtype) {
        long ones = onesColumn(d, dtype);
        try {
            long sum = binary("aten::matmul", "", x, ones); // [..., 1]
            long mean = kern.mulScalar(sum, 1.0 / d);
            shim.delete(sum);
            return mean;
        } finally {
            shim.delete(ones);
        }
    }

    /** A new handle to the runtime's {@code [n, 1]} column of ones (made once per width and dtype). */
    private long onesColumn(long n, DType dtype) {
        return shim.newHandle(rt.ones(n, dtype));
    }

    @Override
    public Tensor softmaxLastAxis(Tensor a) {
        long[] st = {shim.newHandle(h(a)), ofInt(-1), ofBool(false)};
        shim.dispatch("aten::_softmax", "", st);
        return own(st[0]);
    }

    // ---- linear algebra

    @Override
    public Tensor matmul(Tensor a, Tensor b) {
        DType c = common(a.dtype(), b.dtype());
        long x = as(a, c);
        long y = as(b, c);
        try {
            return own(binary("aten::matmul", "", x, y));
        } finally {
            shim.delete(x);
            shim.delete(y);
        }
    }

    /**
     * One kernel per call: a one-row float32 {@code x} is {@code addmv(bias, W, x)} / {@code mv(W, x)} (GEMV
     * reads W once in its stored order; float32 GEMM at M=1 is 2.5–3.4× slower on CPU), everything else is
     * {@code addmm(bias, x, Wᵀ)} / {@code mm(x, Wᵀ)} with Wᵀ a strided view. In bf16 the order flips:
     * libtorch 2.7.1's bf16 {@code mv} streamed 3–5 GB/s here against 9–14 GB/s for oneDNN's bf16 GEMM at
     * M=1 over the same 541 MB of [11008, 2048] matrices (one interleaved run, load average ~10). Computes in
     * the weight's dtype (bf16 weights: bf16 GEMM), so x and bias are converted to it when they differ.
     */
    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        return linear(x, w, bias, false);
    }

    /** {@link #linear}, with {@code gelu} (only for a matrix x and a bias) one {@code _addmm_activation} instead. */
    private Tensor linear(Tensor x, Tensor w, Tensor bias, boolean gelu) {
        long[] xs = x.shape();
        long in = xs[xs.length - 1];
        long out = w.dim(0);
        long rows = TorchRuntime.numel(xs) / Math.max(1, in);
        long[] ys = xs.clone();
        ys[ys.length - 1] = out;
        DType c = w.dtype();
        long xc = as(x, c);
        long bc = bias == null ? 0 : as(bias, c);
        long wt = 0;
        long x2 = 0;
        long y;
        try {
            if (rows == 1 && c == DType.BF16 && JAVA_MATVEC && rt.onHost()) {
                y = javaMatVec(xc, w, bc, in, out);
                if (y != 0) {
                    long r = kern.reshape(y, ys);
                    shim.delete(y);
                    return own(r);
                }
            }
            boolean amx = rows <= Bf16Amx.MAX_ROWS ? rows >= 2 && AMX_ROWS : rows >= Bf16AmxGemm.MIN_ROWS && AMX_GEMM;
            // the GELU as the GEMM's epilogue where the many-row kernel takes it (the few-row one has none)
            if (amx && c == DType.BF16 && (!gelu || (rows > Bf16Amx.MAX_ROWS && AMX_FUSED)) && rt.onHost()) {
                y = amxLinear(xc, w, bc, rows, in, out, gelu ? Bf16AmxGemm.Epilogue.GELU : Bf16AmxGemm.Epilogue.PLAIN);
                if (y != 0) {
                    long r = kern.reshape(y, ys);
                    shim.delete(y);
                    return own(r);
                }
            }
            if (rows == 1 && c != DType.BF16) {
                x2 = kern.reshape(xc, new long[] {in});
                y = bias == null
                        ? binary("aten::mv", "", h(w), x2) // [out]
                        : kern.addmv(bc, h(w), x2, 1.0, 1.0);
            } else {
                long[] wst = ((TorchTensor) w).strides();
                wt = shim.view(h(w), new long[] {in, out}, new long[] {wst[1], wst[0]}, 0); // Wᵀ, no copy
                x2 = kern.reshape(xc, new long[] {rows, in});
                if (gelu) {
                    y = kern.addmmGelu(bc, x2, wt); // [rows, out]
                } else if (bias == null) {
                    y = binary("aten::mm", "", x2, wt); // [rows, out]
                } else {
                    y = rt.empty(new long[] {rows, out}, c);
                    kern.addmmOut(y, bc, x2, wt, 1.0, 1.0);
                }
            }
            long r = kern.reshape(y, ys);
            shim.delete(y);
            return own(r);
        } finally {
            shim.delete(xc);
            if (bc != 0) {
                shim.delete(bc);
            }
            if (wt != 0) {
                shim.delete(wt);
            }
            if (x2 != 0) {
                shim.delete(x2);
            }
        }
    }

    /**
     * On the CPU, for a matrix {@code x} and a bias, one pass: for {@link Bf16AmxGemm#MIN_ROWS} bf16 rows or more,
     * JEPD's AMX GEMM with the GELU as its epilogue (the mergers' first layer, {@code [256, 5120] · [5120, 5120]ᵀ}, at
     * the rate of the plain product after it, where libtorch's ran ~20% below it; docs/PERF.md), else {@code
     * aten::_addmm_activation(b, x, Wᵀ, use_gelu)}: the product, then libtorch's exact GELU kernel in place on it (one
     * rounding, as Hugging Face's {@code nn.GELU} in bf16), instead of the five kernels of {@link #gelu}. Not on CUDA,
     * whose {@code _addmm_activation} uses cuBLASLt's tanh-approximate GELU epilogue.
     */
    @Override
    public Tensor linearGelu(Tensor x, Tensor w, Tensor bias) {
        long[] xs = x.shape();
        long in = xs[xs.length - 1];
        long rows = TorchRuntime.numel(xs) / Math.max(1, in);
        if (!rt.onHost() || !kern.hasAddmmActivation() || bias == null || rows < 2 || w.rank() != 2) {
            return gelu(linear(x, w, bias));
        }
        return linear(x, w, bias, true);
    }

    /**
     * {@code x · Wᵀ + b} for one bf16 row through {@link Bf16MatVec}, into a new {@code [out]} tensor; 0 when the
     * operands are not all dense (a strided weight view, a broadcast row) or the kernel's pool is busy with
     * another product, and libtorch should take it.
     */
    private long javaMatVec(long x, Tensor w, long bias, long in, long out) {
        long[] xst = shim.strides(x);
        if (!rowMajor(w, bias, in) || xst[xst.length - 1] != 1) {
            return 0;
        }
        long y = rt.empty(new long[] {out}, DType.BF16);
        boolean ran = Bf16MatVec.tryRun(
                rt.host(h(w), 2 * out * in),
                out,
                in,
                rt.host(x, 2 * in),
                bias == 0 ? null : rt.host(bias, 2 * out),
                rt.host(y, 2 * out));
        if (!ran) {
            shim.delete(y);
            return 0;
        }
        return y;
    }

    /** Whether JEPD's kernels can read {@code w} as dense {@code [out, in]} rows and the bias (if any) as dense. */
    private boolean rowMajor(Tensor w, long bias, long in) {
        long[] wst = ((TorchTensor) w).strides();
        return w.rank() == 2 && wst[0] == in && wst[1] == 1 && (bias == 0 || shim.strides(bias)[0] == 1);
    }

    /**
     * {@code x · Wᵀ + b} for 2 or more bf16 rows on AMX tiles, into a new {@code [rows, out]} tensor: up to {@link
     * Bf16Amx#MAX_ROWS} rows through {@link Bf16Amx}, more through {@link Bf16AmxGemm} with {@code then} (which the
     * few-row kernel takes only as {@link Bf16AmxGemm.Epilogue#PLAIN}); 0 when an operand is not
     * dense or the kernels' pool is busy, and libtorch should take it.
     */
    private long amxLinear(long x, Tensor w, long bias, long rows, long in, long out, Bf16AmxGemm.Epilogue then) {
        if (!rowMajor(w, bias, in)) {
            return 0;
        }
        long x2 = kern.reshape(x, new long[] {rows, in});
        try {
            long[] xst = shim.strides(x2);
            boolean few = rows <= Bf16Amx.MAX_ROWS;
            if (xst[1] != 1 || (few ? xst[0] != in : xst[0] < in)) {
                return 0;
            }
            long y = rt.empty(new long[] {rows, out}, DType.BF16);
            MemorySegment ws = rt.host(h(w), 2 * out * in);
            MemorySegment bs = bias == 0 ? null : rt.host(bias, 2 * out);
            MemorySegment ys = rt.host(y, 2 * rows * out);
            boolean ran = few
                    ? Bf16Amx.tryRun(ws, out, in, rt.host(x2, 2 * rows * in), (int) rows, bs, ys)
                    : Bf16AmxGemm.tryRun(
                            ws, out, in, rt.host(x2, 2 * ((rows - 1) * xst[0] + in)), xst[0], rows, bs, ys, then);
            if (!ran) {
                shim.delete(y);
                return 0;
            }
            return y;
        } finally {
            shim.delete(x2);
        }
    }

    /**
     * On the CPU, for {@link Bf16AmxGemm#MIN_ROWS} bf16 rows or more: both products and the SiLU·mul in one pass of
     * JEPD's AMX GEMM (gate and up are never written out); else libtorch's four ops.
     */
    @Override
    public Tensor linearSiluMul(Tensor x, Tensor gateW, Tensor gateB, Tensor upW, Tensor upB) {
        Tensor y = fusedGemm(x, gateW, gateB, upW, upB);
        return y != null ? y : Ops.super.linearSiluMul(x, gateW, gateB, upW, upB);
    }

    /**
     * {@code silu(x · Wᵀ + b) · (x · upWᵀ + upB)} through {@link Bf16AmxGemm}, into a new tensor; null where it does
     * not apply (not bf16 on the host, too few rows, an operand that is not dense rows, the pool busy), and the ops
     * one by one should run.
     */
    private Tensor fusedGemm(Tensor x, Tensor w, Tensor bias, Tensor upW, Tensor upB) {
        if (!AMX_FUSED || !rt.onHost() || x.dtype() != DType.BF16 || w.dtype() != DType.BF16 || w.rank() != 2) {
            return null;
        }
        long[] xs = x.shape();
        long in = xs[xs.length - 1];
        long out = w.dim(0);
        long rows = TorchRuntime.numel(xs) / Math.max(1, in);
        if (w.dim(1) != in
                || rows < Bf16AmxGemm.MIN_ROWS
                || !denseVector(bias, out)
                || !denseVector(upB, out)
                || upW.dtype() != DType.BF16
                || !Arrays.equals(upW.shape(), w.shape())
                || !rowMajor(upW, 0, in)) {
            return null;
        }
        Bf16AmxGemm.Epilogue then = Bf16AmxGemm.Epilogue.siluMulUp(
                rt.host(h(upW), 2 * out * in), upB == null ? null : rt.host(h(upB), 2 * out));
        long y = amxLinear(h(x), w, bias == null ? 0 : h(bias), rows, in, out, then);
        if (y == 0) {
            return null;
        }
        long[] ys = xs.clone();
        ys[ys.length - 1] = out;
        long r = kern.reshape(y, ys);
        shim.delete(y);
        return own(r);
    }

    /** Whether {@code v} is null, or a dense bf16 vector of {@code n}. */
    private static boolean denseVector(Tensor v, long n) {
        return v == null
                || (v.dtype() == DType.BF16 && v.rank() == 1 && v.dim(0) == n && ((TorchTensor) v).strides()[0] == 1);
    }

    // ---- shape

    @Override
    public Tensor reshape(Tensor a, long... shape) {
        return own(kern.reshape(h(a), shape));
    }

    /** A view: permuted sizes and strides over the same memory. */
    @Override
    public Tensor permute(Tensor a, int... axes) {
        TorchTensor t = (TorchTensor) a;
        int r = t.rank();
        if (axes.length != r) {
            throw new IllegalArgumentException("permute " + Arrays.toString(axes) + " of " + t);
        }
        long[] shape = t.shape();
        long[] strides = t.strides();
        long[] ps = new long[r];
        long[] pst = new long[r];
        boolean[] seen = new boolean[r];
        for (int i = 0; i < r; i++) {
            int ax = axes[i] < 0 ? axes[i] + r : axes[i];
            if (ax < 0 || ax >= r || seen[ax]) {
                throw new IllegalArgumentException("permute " + Arrays.toString(axes) + " of " + t);
            }
            seen[ax] = true;
            ps[i] = shape[ax];
            pst[i] = strides[ax];
        }
        return own(shim.view(t.handle(), ps, pst, 0));
    }

    @Override
    public Tensor concat(List<Tensor> parts, int axis) {
        long[] hs = new long[parts.size()];
        for (int i = 0; i < hs.length; i++) {
            hs[i] = h(parts.get(i));
        }
        return own(kern.cat(hs, axis));
    }

    /** A view: {@code a[..., start:end, ...]} along {@code axis}. */
    @Override
    public Tensor slice(Tensor a, int axis, long start, long end) {
        TorchTensor t = (TorchTensor) a;
        int ax = axis < 0 ? axis + t.rank() : axis;
        long[] shape = t.shape();
        if (ax < 0 || ax >= shape.length || start < 0 || end < start || end > shape[ax]) {
            throw new IllegalArgumentException("slice " + start + ":" + end + " of axis " + axis + " of " + t);
        }
        long[] strides = t.strides();
        shape[ax] = end - start;
        return own(shim.view(t.handle(), shape, strides, start * strides[ax]));
    }

    @Override
    public Tensor gatherRows(Tensor a, Tensor index) {
        long[] st = {shim.newHandle(h(a)), ofInt(0), shim.newHandle(h(index))};
        shim.dispatch("aten::index_select", "", st);
        return own(st[0]);
    }

    @Override
    public void scatterRows(Tensor dst, Tensor index, Tensor src) {
        long s = as(src, dst.dtype());
        long[] st = {shim.newHandle(h(dst)), ofInt(0), shim.newHandle(h(index)), s}; // s is consumed
        shim.dispatch("aten::index_copy_", "", st);
        shim.delete(st[0]); // the returned alias of dst
    }

    // ---- composites

    /**
     * Qwen2RMSNorm as Hugging Face computes it: in float32 ({@code x · rsqrt(mean(x²) + eps)}), back to x's
     * dtype, then times the weight.
     */
    @Override
    public Tensor rmsNorm(Tensor x, Tensor w, float eps) {
        if (javaRows(x, w) && w.rank() == 1 && w.dim(0) == x.dim(-1) && ((TorchTensor) w).strides()[0] == 1) {
            Bf16Rows.Rows[] rows = rowsOf(x.shape(), x);
            if (rows != null) {
                long d = x.dim(-1);
                long out = rt.empty(x.shape(), DType.BF16);
                Bf16Rows.rmsNorm(rows[0], rt.host(h(w), 2 * d), (int) d, eps, rt.host(out, 2 * x.numel()));
                return own(out);
            }
        }
        return torchRmsNorm(x, w, eps);
    }

    /**
     * On the CPU, for dense bf16 x and y of one shape: the add and the RMSNorm in one pass of {@link Bf16Elementwise}
     * (the sum written once and read from L1, not from memory); else the two ops.
     */
    @Override
    public Normed addRmsNorm(Tensor x, Tensor y, Tensor w, float eps) {
        long d = x.rank() == 0 ? 0 : x.dim(-1);
        if (NATIVE_ELEMENTWISE
                && bf16OnHost(x, y, w)
                && Arrays.equals(x.shape(), y.shape())
                && dense((TorchTensor) x)
                && dense((TorchTensor) y)
                && denseVector(w, d)) {
            long n = x.numel();
            long sum = rt.empty(x.shape(), DType.BF16);
            Tensor sumT = own(sum);
            long out = rt.empty(x.shape(), DType.BF16);
            Tensor outT = own(out);
            Bf16Elementwise.addRmsNorm(
                    rt.host(h(x), 2 * n),
                    rt.host(h(y), 2 * n),
                    rt.host(h(w), 2 * d),
                    n / d,
                    d,
                    eps,
                    rt.host(sum, 2 * n),
                    rt.host(out, 2 * n));
            return new Normed(sumT, outT);
        }
        return Ops.super.addRmsNorm(x, y, w, eps);
    }

    /** {@link #rmsNorm} composed from libtorch's kernels (any dtype, any device). */
    Tensor torchRmsNorm(Tensor x, Tensor w, float eps) {
        long x32 = as(x, DType.F32);
        long sq = binary("aten::mul", "Tensor", x32, x32);
        long ms = meanLast(sq, x.dim(-1), DType.F32); // [..., 1]
        shim.delete(sq);
        long var = kern.addScalar(ms, eps, 1.0);
        shim.delete(ms);
        long inv = unary("aten::rsqrt", var);
        shim.delete(var);
        long y = binary("aten::mul", "Tensor", x32, inv);
        shim.delete(x32);
        shim.delete(inv);
        if (x.dtype() != DType.F32) {
            long yc = rt.empty(x.shape(), x.dtype());
            shim.copy(yc, y);
            shim.delete(y);
            y = yc;
        }
        long out = binary("aten::mul", "Tensor", h(w), y);
        shim.delete(y);
        return own(out);
    }

    /**
     * {@code x·cos + rot(x)·sin} with {@code rot(x) = [-x₂, x₁]}, the sign moved onto the table: {@code [x₂, x₁] ·
     * [-sin₁, sin₂]} are the same products bit for bit, and negating the table ({@code [T, d]}, a head's share of x)
     * instead of x saves one of the five passes over x.
     */
    @Override
    public Tensor rotary(Tensor x, Tensor cos, Tensor sin) {
        long d = x.dim(-1);
        if (d % 2 != 0 || cos.dim(-1) != d || sin.dim(-1) != d) {
            return Ops.super.rotary(x, cos, sin);
        }
        if (NATIVE_ELEMENTWISE && bf16OnHost(x, cos, sin) && rowsOf(x.shape(), x, cos, sin) != null) {
            // laid out as libtorch's composition would be (the vision tower's q and k stay token-major, which its
            // attention reads faster)
            Tensor out = own(rt.emptyLike(x.shape(), ((TorchTensor) x).strides(), DType.BF16));
            Bf16Rows.Rows[] rows = rowsOf(x.shape(), x, cos, sin, out);
            if (rows != null) {
                Bf16Elementwise.rotary(rows[0], rows[1], rows[2], rows[3], d);
                return out;
            }
        }
        long half = d / 2;
        Tensor swapped = concat(List.of(slice(x, -1, half, d), slice(x, -1, 0, half)), -1);
        Tensor signedSin = concat(List.of(neg(slice(sin, -1, 0, half)), slice(sin, -1, half, d)), -1);
        return add(mul(x, cos), mul(swapped, signedSin));
    }

    /**
     * {@code silu(gate) · up} in one pass of {@link Bf16Elementwise} for dense bf16 operands of one shape on the CPU;
     * libtorch's two kernels otherwise.
     */
    @Override
    public Tensor siluMul(Tensor gate, Tensor up) {
        if (NATIVE_ELEMENTWISE
                && bf16OnHost(gate, up)
                && Arrays.equals(gate.shape(), up.shape())
                && dense((TorchTensor) gate)
                && dense((TorchTensor) up)) {
            long n = gate.numel();
            long out = rt.empty(gate.shape(), DType.BF16);
            try {
                Bf16Elementwise.siluMul(rt.host(h(gate), 2 * n), rt.host(h(up), 2 * n), rt.host(out, 2 * n), n);
            } catch (RuntimeException e) {
                shim.delete(out);
                throw e;
            }
            return own(out);
        }
        return Ops.super.siluMul(gate, up);
    }

    /** Whether every operand is bf16, non-empty and on the host. */
    private boolean bf16OnHost(Tensor... operands) {
        if (!rt.onHost()) {
            return false;
        }
        for (Tensor t : operands) {
            if (t.dtype() != DType.BF16 || t.numel() == 0) {
                return false;
            }
        }
        return true;
    }

    /** Whether {@link Bf16Rows} may take an op on these operands: all bf16, on the host, the kernels switched on. */
    private boolean javaRows(Tensor... operands) {
        return JAVA_ROWS && bf16OnHost(operands);
    }

    /**
     * Each operand as rows of {@code shape}'s last axis, broadcast to {@code shape} (a missing or size-1 axis repeats
     * with stride 0) and indexed alike: the leading axes merge where every operand's strides allow, and at most two
     * may remain. Null when an operand does not broadcast to {@code shape}, its last axis is not dense, or three
     * leading axes remain.
     */
    private Bf16Rows.Rows[] rowsOf(long[] shape, Tensor... operands) {
        int rank = shape.length;
        if (rank == 0 || shape[rank - 1] > Integer.MAX_VALUE) {
            return null;
        }
        long d = shape[rank - 1];
        int n = operands.length;
        long[][] strides = new long[n][rank - 1];
        for (int o = 0; o < n; o++) {
            TorchTensor t = (TorchTensor) operands[o];
            long[] s = t.shape();
            long[] st = t.strides();
            int off = rank - s.length;
            if (s.length == 0 || off < 0 || s[s.length - 1] != d || (d > 1 && st[s.length - 1] != 1)) {
                return null;
            }
            for (int k = 0; k < rank - 1; k++) {
                int od = k - off;
                if (od < 0 || s[od] == 1) {
                    strides[o][k] = 0;
                } else if (s[od] == shape[k]) {
                    strides[o][k] = st[od];
                } else {
                    return null;
                }
            }
        }
        // The leading axes of size > 1, inner ones merged into outer ones where every operand allows.
        List<long[]> axes = new ArrayList<>(); // {size, stride of operand 0, 1, ...}
        for (int k = 0; k < rank - 1; k++) {
            if (shape[k] == 1) {
                continue;
            }
            long[] axis = new long[n + 1];
            axis[0] = shape[k];
            for (int o = 0; o < n; o++) {
                axis[o + 1] = strides[o][k];
            }
            axes.add(axis);
        }
        for (int k = axes.size() - 2; k >= 0; k--) {
            long[] outer = axes.get(k);
            long[] inner = axes.get(k + 1);
            boolean merges = true;
            for (int o = 1; o <= n; o++) {
                merges &= outer[o] == inner[o] * inner[0];
            }
            if (merges) {
                inner[0] *= outer[0];
                axes.remove(k);
            }
        }
        if (axes.size() > 2) {
            return null;
        }
        long[] outer = axes.size() == 2 ? axes.get(0) : new long[n + 1];
        long[] inner = axes.isEmpty() ? new long[n + 1] : axes.get(axes.size() - 1);
        long outerSize = axes.size() == 2 ? outer[0] : 1;
        long innerSize = axes.isEmpty() ? 1 : inner[0];
        Bf16Rows.Rows[] rows = new Bf16Rows.Rows[n];
        for (int o = 0; o < n; o++) {
            long bytes = Bf16Rows.Rows.extentBytes(outerSize, outer[o + 1], innerSize, inner[o + 1], d);
            rows[o] =
                    new Bf16Rows.Rows(rt.host(h(operands[o]), bytes), outerSize, outer[o + 1], innerSize, inner[o + 1]);
        }
        return rows;
    }

    /**
     * {@code softmax(q kᵀ · scale + mask) v} through libtorch's CPU flash attention: leading axes broadcast
     * (as views with zero strides) and fold into its {@code [B, H]}.
     */
    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        int r = q.rank();
        if (r < 2 || k.rank() != r || v.rank() != r || q.numel() == 0 || k.numel() == 0) {
            return composedAttention(q, k, v, mask, scale);
        }
        DType c = common(common(q.dtype(), k.dtype()), v.dtype());
        long[] lead = broadcastLead(q.shape(), k.shape(), v.shape());
        List<Long> temps = new ArrayList<>();
        try {
            long q4 = temp(temps, to4d(temp(temps, as(q, c)), q.shape(), lead));
            long k4 = temp(temps, to4d(temp(temps, as(k, c)), k.shape(), lead));
            long v4 = temp(temps, to4d(temp(temps, as(v, c)), v.shape(), lead));
            long m4 = 0;
            if (mask != null) {
                long mc = temp(temps, as(mask, c));
                long[] ms = mask.shape();
                if (ms.length != 2) {
                    throw new IllegalArgumentException("attention mask must be [T, S], got " + mask);
                }
                m4 = temp(temps, mask4d(mc, ms));
            }
            long o4 = temp(temps, fused(q4, k4, v4, false, m4, scale)); // [B, H, T, d]
            long[] outShape = q.shape();
            outShape[r - 1] = v.dim(-1);
            long[] full = Arrays.copyOf(lead, lead.length + 2);
            full[lead.length] = q.dim(-2);
            full[lead.length + 1] = v.dim(-1);
            return own(kern.reshape(o4, full));
        } finally {
            temps.forEach(shim::delete);
        }
    }

    /**
     * Causal attention over the paged cache as one flash-attention call for the whole sequence chunk. GQA
     * without copies: q {@code [n, H, d]} is viewed as {@code [kvH, g, n, d]} and k, v {@code [S, kvH, d]} as
     * {@code [kvH, g, S, d]} with a zero stride over the group. A fresh prefill uses the kernel's causal
     * flag, a decode step needs no mask, and a chunk that continues a cached context gets an additive
     * {@code [n, S]} mask (one chunk's worth, not the sequence's square).
     */
    @Override
    public Tensor pagedAttention(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor keyCache,
            Tensor valueCache,
            Tensor contextSlots,
            int queryStart,
            float scale) {
        long n = q.dim(0);
        long heads = q.dim(1);
        long d = q.dim(2);
        long kvHeads = keyCache.dim(1);
        long g = heads / kvHeads;
        long s = contextSlots.dim(0);
        DType c = keyCache.dtype();
        if (NATIVE_ATTENTION && Bf16CausalAttention.AVAILABLE && rt.onHost()) {
            Tensor r = nativeCausalAttention(q, k, v, keyCache, valueCache, contextSlots, queryStart, scale);
            if (r != null) {
                return r;
            }
        }
        List<Long> temps = new ArrayList<>();
        try {
            long kc;
            long vc;
            if (k != null && queryStart == 0 && s == n) {
                kc = temp(temps, lastAxisDense(temp(temps, as(k, c)), k.shape()));
                vc = temp(temps, lastAxisDense(temp(temps, as(v, c)), v.shape()));
            } else {
                kc = temp(temps, gather(h(keyCache), h(contextSlots))); // [S, kvH, d]
                vc = temp(temps, gather(h(valueCache), h(contextSlots)));
            }
            long qc = temp(temps, lastAxisDense(temp(temps, as(q, c)), q.shape()));
            long[] qst = shim.strides(qc);
            long q4 = temp(
                    temps,
                    shim.view(qc, new long[] {kvHeads, g, n, d}, new long[] {g * qst[1], qst[1], qst[0], qst[2]}, 0));
            long[] kst = shim.strides(kc);
            long k4 = temp(
                    temps, shim.view(kc, new long[] {kvHeads, g, s, d}, new long[] {kst[1], 0, kst[0], kst[2]}, 0));
            long[] vst = shim.strides(vc);
            long v4 = temp(
                    temps, shim.view(vc, new long[] {kvHeads, g, s, d}, new long[] {vst[1], 0, vst[0], vst[2]}, 0));
            boolean causal = queryStart == 0 && n > 1;
            long mask = 0;
            if (queryStart > 0 && n > 1) {
                mask = temp(temps, chunkMask(n, s, queryStart, c));
            }
            long o4 = temp(temps, fused(q4, k4, v4, causal, mask, scale)); // [kvH, g, n, d]
            long[] ost = shim.strides(o4);
            long onk = temp(
                    temps,
                    shim.view(o4, new long[] {n, kvHeads, g, d}, new long[] {ost[2], ost[0], ost[1], ost[3]}, 0));
            return own(kern.reshape(onk, new long[] {n, heads, d}));
        } finally {
            temps.forEach(shim::delete);
        }
    }

    /**
     * {@link #pagedAttention} through {@link Bf16CausalAttention}: a fresh prompt's keys and values as they are (views
     * whose rows are dense), a chunk after cached context from one gather per cache; null where an operand is not
     * bf16 with dense rows, the head size is not the kernel's, the context is not the chunk's positions exactly, or
     * the kernel's pool is busy, and libtorch should take it.
     */
    private Tensor nativeCausalAttention(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor keyCache,
            Tensor valueCache,
            Tensor contextSlots,
            int queryStart,
            float scale) {
        long n = q.dim(0);
        long heads = q.dim(1);
        long d = q.dim(2);
        long kvHeads = keyCache.dim(1);
        long s = contextSlots.dim(0);
        boolean fresh = k != null && queryStart == 0 && s == n;
        if (q.dtype() != DType.BF16
                || keyCache.dtype() != DType.BF16
                || valueCache.dtype() != DType.BF16
                || !Bf16CausalAttention.takes(d)
                || heads % kvHeads != 0
                || s != queryStart + n
                || ((TorchTensor) q).strides()[2] != 1
                || (fresh
                        && (k.dtype() != DType.BF16
                                || v.dtype() != DType.BF16
                                || ((TorchTensor) k).strides()[2] != 1
                                || ((TorchTensor) v).strides()[2] != 1))) {
            return null;
        }
        List<Long> temps = new ArrayList<>();
        try {
            long kc = fresh ? h(k) : temp(temps, gather(h(keyCache), h(contextSlots))); // [S, kvH, d]
            long vc = fresh ? h(v) : temp(temps, gather(h(valueCache), h(contextSlots)));
            long[] qst = ((TorchTensor) q).strides();
            long[] kst = shim.strides(kc);
            long[] vst = shim.strides(vc);
            if (kst[2] != 1 || vst[2] != 1) {
                return null;
            }
            long out = temp(temps, rt.empty(new long[] {n, heads, d}, DType.BF16));
            boolean ran = Bf16CausalAttention.tryRun(
                    rt.host(h(q), Bf16CausalAttention.span(n, qst[0], heads, qst[1], d)),
                    qst[1],
                    qst[0],
                    rt.host(kc, Bf16CausalAttention.span(s, kst[0], kvHeads, kst[1], d)),
                    kst[1],
                    kst[0],
                    rt.host(vc, Bf16CausalAttention.span(s, vst[0], kvHeads, vst[1], d)),
                    vst[1],
                    vst[0],
                    n,
                    s,
                    queryStart,
                    heads,
                    kvHeads,
                    d,
                    scale,
                    rt.host(out, 2 * n * heads * d),
                    d,
                    heads * d);
            if (!ran) {
                return null;
            }
            temps.remove(Long.valueOf(out));
            return own(out);
        } finally {
            temps.forEach(shim::delete);
        }
    }

    /**
     * The whole batch's decode attention as one gather per cache and one fused call: the context rows are gathered
     * as {@code [B, S, kvH, d]}, laid out {@code [B, kvH, S, d]} so that batch and KV head merge into the kernel's
     * batch axis, each KV head's {@code g} query heads read it through a zero stride, and an additive mask hides
     * each sequence's padding.
     */
    @Override
    public Tensor pagedDecodeAttention(
            Tensor q, Tensor keyCache, Tensor valueCache, Tensor contextSlots, int[] lengths, float scale) {
        long b = q.dim(0);
        long heads = q.dim(1);
        long d = q.dim(2);
        long kvHeads = keyCache.dim(1);
        long g = heads / kvHeads;
        long s = contextSlots.dim(1);
        Ops.checkDecodeBatch(q, contextSlots, lengths);
        DType c = keyCache.dtype();
        if (NATIVE_ATTENTION && rt.onHost()) {
            Tensor r = nativeDecodeAttention(q, keyCache, valueCache, contextSlots, lengths, scale);
            if (r != null) {
                return r;
            }
        }
        List<Long> temps = new ArrayList<>();
        try {
            long flat = temp(temps, kern.reshape(h(contextSlots), new long[] {b * s}));
            long kc = temp(temps, headMajor(temp(temps, gather(h(keyCache), flat)), b, s, kvHeads, d, c));
            long vc = temp(temps, headMajor(temp(temps, gather(h(valueCache), flat)), b, s, kvHeads, d, c));
            long qc = temp(temps, rt.contiguous(h(q), new long[] {b, heads, d}, q.dtype(), c)); // [B, H, d]
            long q4 = temp(temps, shim.view(qc, new long[] {b * kvHeads, g, 1, d}, new long[] {g * d, d, d, 1}, 0));
            long k4 = temp(temps, shim.view(kc, new long[] {b * kvHeads, g, s, d}, new long[] {s * d, 0, d, 1}, 0));
            long v4 = temp(temps, shim.view(vc, new long[] {b * kvHeads, g, s, d}, new long[] {s * d, 0, d, 1}, 0));
            long mask = temp(temps, paddingMask(lengths, kvHeads, g, s, c)); // [B·kvH, g, 1, S]
            long o4 = temp(temps, fused(q4, k4, v4, false, mask, scale)); // [B·kvH, g, 1, d]
            long[] ost = shim.strides(o4);
            long o = temp(
                    temps,
                    shim.view(
                            o4,
                            new long[] {b, kvHeads, g, d},
                            new long[] {kvHeads * ost[0], ost[0], ost[1], ost[3]},
                            0));
            return own(kern.reshape(o, new long[] {b, heads, d}));
        } finally {
            temps.forEach(shim::delete);
        }
    }

    /**
     * {@link #pagedDecodeAttention} through {@link Bf16DecodeAttention}, which reads the context rows straight from
     * the caches; null when an operand is not bf16 and dense, or the kernel's pool is busy, and libtorch should take
     * it.
     */
    private Tensor nativeDecodeAttention(
            Tensor q, Tensor keyCache, Tensor valueCache, Tensor contextSlots, int[] lengths, float scale) {
        long b = q.dim(0);
        long heads = q.dim(1);
        long d = q.dim(2);
        long slots = keyCache.dim(0);
        long kvHeads = keyCache.dim(1);
        long s = contextSlots.dim(1);
        if (q.dtype() != DType.BF16
                || keyCache.dtype() != DType.BF16
                || valueCache.dtype() != DType.BF16
                || contextSlots.dtype() != DType.I64
                || keyCache.rank() != 3
                || !Arrays.equals(keyCache.shape(), valueCache.shape())
                || keyCache.dim(2) != d
                || d > Bf16DecodeAttention.MAX_HEAD_DIM
                || heads % kvHeads != 0
                || !dense((TorchTensor) keyCache)
                || !dense((TorchTensor) valueCache)
                || !dense((TorchTensor) contextSlots)) {
            return null;
        }
        MemorySegment slotRows = rt.host(h(contextSlots), 8 * b * s);
        for (int i = 0; i < lengths.length; i++) { // the kernel reads the cache at these slots unchecked
            for (long t = 0; t < lengths[i]; t++) {
                long slot = slotRows.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i * s + t);
                if (slot < 0 || slot >= slots) {
                    throw new IndexOutOfBoundsException(
                            "decode attention: slot " + slot + " outside the cache's " + slots + " slots");
                }
            }
        }
        long qc = rt.contiguous(h(q), new long[] {b, heads, d}, q.dtype(), DType.BF16);
        long lens = rt.hostEmpty(new long[] {b}, DType.I32);
        long out = rt.empty(new long[] {b, heads, d}, DType.BF16);
        try {
            MemorySegment lensSeg = rt.host(lens, 4 * b);
            for (int i = 0; i < lengths.length; i++) {
                lensSeg.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i, lengths[i]);
            }
            long cacheBytes = 2 * slots * kvHeads * d;
            boolean ran = Bf16DecodeAttention.tryRun(
                    rt.host(qc, 2 * b * heads * d),
                    rt.host(h(keyCache), cacheBytes),
                    rt.host(h(valueCache), cacheBytes),
                    slotRows,
                    lensSeg,
                    b,
                    s,
                    heads,
                    kvHeads,
                    d,
                    scale,
                    rt.host(out, 2 * b * heads * d));
            if (!ran) {
                return null;
            }
            long r = out;
            out = 0;
            return own(r);
        } finally {
            shim.delete(qc);
            shim.delete(lens);
            if (out != 0) {
                shim.delete(out);
            }
        }
    }

    /** Whether a tensor's elements lie row-major without gaps. */
    private static boolean dense(TorchTensor t) {
        return TorchRuntime.isContiguous(t.shape(), t.strides());
    }

    /** Gathered context rows {@code [B·S, kvH, d]} copied into {@code [B, kvH, S, d]}. */
    private long headMajor(long rows, long b, long s, long kvHeads, long d, DType c) {
        long[] st = shim.strides(rows); // rows are dense: [kvH·d, d, 1]
        long view = shim.view(
                rows, new long[] {b, kvHeads, s, d}, new long[] {s * st[0], st[1], st[0], st[2]}, 0); // no copy
        try {
            long out = rt.empty(new long[] {b, kvHeads, s, d}, c);
            shim.copy(out, view);
            return out;
        } finally {
            shim.delete(view);
        }
    }

    /**
     * 0 where sequence {@code b} has a context position, −∞ on its padding: {@code [B·kvH, g, 1, S]}, one row per
     * sequence and KV head (rows padded for CUDA's kernel as {@link #chunkMask}'s), the query heads through a zero
     * stride.
     */
    private long paddingMask(int[] lengths, long kvHeads, long g, long s, DType dtype) {
        long row = rt.onHost() ? s : alignUp(s);
        long rows = lengths.length * kvHeads;
        long[] shape = {rows, row};
        long host = rt.hostEmpty(shape, dtype);
        MemorySegment seg = rt.host(host, rows * row * dtype.byteSize());
        for (int i = 0; i < lengths.length; i++) { // lengths checked by the caller: 1..S
            for (long kv = 0; kv < kvHeads; kv++) {
                long r = i * kvHeads + kv;
                for (long j = 0; j < row; j++) {
                    dtype.setFloat(seg, r * row + j, j < lengths[i] ? 0f : Float.NEGATIVE_INFINITY);
                }
            }
        }
        long m = rt.upload(host, shape, dtype);
        try {
            return shim.view(m, new long[] {rows, g, 1, s}, new long[] {row, 0, row, 1}, 0);
        } finally {
            shim.delete(m);
        }
    }

    /**
     * Block-diagonal attention without a mask: each run of consecutive equal-length segments (the vision
     * tower's windows) is one flash-attention call with the segments as its batch, viewed in place.
     */
    @Override
    public Tensor varlenAttention(Tensor q, Tensor k, Tensor v, int[] cuSeqlens, float scale) {
        Tensor windows = segmentAttention(q, k, v, null, null, cuSeqlens, scale);
        if (windows != null) {
            return windows;
        }
        long heads = q.dim(0);
        long d = q.dim(2);
        DType c = common(common(q.dtype(), k.dtype()), v.dtype());
        List<Long> temps = new ArrayList<>();
        List<Long> parts = new ArrayList<>();
        try {
            long qc = temp(temps, lastAxisDense(temp(temps, as(q, c)), q.shape()));
            long kc = temp(temps, lastAxisDense(temp(temps, as(k, c)), k.shape()));
            long vc = temp(temps, lastAxisDense(temp(temps, as(v, c)), v.shape()));
            long[] qs = shim.strides(qc);
            long[] ks = shim.strides(kc);
            long[] vs = shim.strides(vc);
            int i = 0;
            while (i + 1 < cuSeqlens.length) {
                int start = cuSeqlens[i];
                int len = cuSeqlens[i + 1] - start;
                int j = i + 1;
                while (j + 1 < cuSeqlens.length && cuSeqlens[j + 1] - cuSeqlens[j] == len) {
                    j++;
                }
                int segs = j - i;
                i = j;
                if (len == 0) {
                    continue;
                }
                long[] size = {segs, heads, len, d};
                long q4 =
                        temp(temps, shim.view(qc, size, new long[] {len * qs[1], qs[0], qs[1], qs[2]}, start * qs[1]));
                long k4 =
                        temp(temps, shim.view(kc, size, new long[] {len * ks[1], ks[0], ks[1], ks[2]}, start * ks[1]));
                long v4 =
                        temp(temps, shim.view(vc, size, new long[] {len * vs[1], vs[0], vs[1], vs[2]}, start * vs[1]));
                long o4 = temp(temps, fused(q4, k4, v4, false, 0, scale)); // [segs, H, len, d]
                long[] os = shim.strides(o4);
                long oh = temp(
                        temps,
                        shim.view(o4, new long[] {heads, segs, len, d}, new long[] {os[1], os[0], os[2], os[3]}, 0));
                parts.add(kern.reshape(oh, new long[] {heads, (long) segs * len, d}));
            }
            if (parts.isEmpty()) {
                return own(rt.empty(new long[] {heads, 0, d}, c));
            }
            if (parts.size() == 1) {
                return own(parts.remove(0));
            }
            long[] hs = parts.stream().mapToLong(Long::longValue).toArray();
            return own(kern.cat(hs, 1));
        } finally {
            temps.forEach(shim::delete);
            parts.forEach(shim::delete);
        }
    }

    /**
     * On the CPU, for the vision windows ({@link #segmentAttention}): the rotary embedding inside the attention kernel,
     * q and k rotated in its scratch only; else the rotary ops, then {@link #varlenAttention}.
     */
    @Override
    public Tensor rotaryVarlenAttention(
            Tensor q, Tensor k, Tensor v, Tensor cos, Tensor sin, int[] cuSeqlens, float scale) {
        Tensor windows = segmentAttention(q, k, v, cos, sin, cuSeqlens, scale);
        return windows != null ? windows : Ops.super.rotaryVarlenAttention(q, k, v, cos, sin, cuSeqlens, scale);
    }

    /**
     * {@link #varlenAttention} through {@link Bf16SegmentAttention} on the CPU: bf16 q, k and v {@code [heads, N, d]}
     * with dense rows, segments of at most {@link Bf16SegmentAttention#MAX_SEGMENT} tokens, with the rotary embedding
     * on q and k first where {@code cos} and {@code sin} ({@code [N, d]}, dense rows) are given; null where it does not
     * apply or the kernels' pool is busy, and libtorch's flash attention should run. The result is laid out token by
     * token ({@code [N, heads, d]} in memory, viewed as {@code [heads, N, d]}), so that the tower's move of the heads
     * back beside each other is a view.
     */
    private Tensor segmentAttention(
            Tensor q, Tensor k, Tensor v, Tensor cos, Tensor sin, int[] cuSeqlens, float scale) {
        if (!NATIVE_ATTENTION || !rt.onHost() || q.rank() != 3) {
            return null;
        }
        long heads = q.dim(0);
        long n = q.dim(1);
        long d = q.dim(2);
        for (Tensor t : new Tensor[] {q, k, v}) {
            if (t.dtype() != DType.BF16
                    || !Arrays.equals(t.shape(), q.shape())
                    || ((TorchTensor) t).strides()[2] != 1) {
                return null;
            }
        }
        if (!Bf16SegmentAttention.takes(cuSeqlens, n, d)) {
            return null;
        }
        Bf16SegmentAttention.Rotary rotary = null;
        if (cos != null) {
            long[] cs = ((TorchTensor) cos).strides();
            long[] ss = ((TorchTensor) sin).strides();
            long[] table = {n, d};
            if (cos.dtype() != DType.BF16
                    || sin.dtype() != DType.BF16
                    || !Arrays.equals(cos.shape(), table)
                    || !Arrays.equals(sin.shape(), table)
                    || cs[1] != 1
                    || ss[1] != 1
                    || d % 2 != 0) {
                return null;
            }
            rotary = new Bf16SegmentAttention.Rotary(
                    rt.host(h(cos), Bf16Rows.Rows.extentBytes(n, cs[0], 1, 0, d)),
                    cs[0],
                    rt.host(h(sin), Bf16Rows.Rows.extentBytes(n, ss[0], 1, 0, d)),
                    ss[0]);
        }
        long[] qs = ((TorchTensor) q).strides();
        long[] ks = ((TorchTensor) k).strides();
        long[] vs = ((TorchTensor) v).strides();
        // the pool's workers read the bounds; an automatic arena, since closing a shared one costs every thread a
        // handshake
        MemorySegment cu = Arena.ofAuto().allocateFrom(ValueLayout.JAVA_INT, cuSeqlens);
        long y = rt.empty(new long[] {n, heads, d}, DType.BF16);
        long[] ys = {d, heads * d}; // y's strides as [heads, n, d]
        try {
            boolean ran = Bf16SegmentAttention.tryRun(
                    NativeKernels.SEGMENT_ATTENTION,
                    rt.host(h(q), Bf16Rows.Rows.extentBytes(heads, qs[0], n, qs[1], d)),
                    qs,
                    rt.host(h(k), Bf16Rows.Rows.extentBytes(heads, ks[0], n, ks[1], d)),
                    ks,
                    rt.host(h(v), Bf16Rows.Rows.extentBytes(heads, vs[0], n, vs[1], d)),
                    vs,
                    rotary,
                    cu,
                    cuSeqlens.length - 1,
                    heads,
                    n,
                    d,
                    scale,
                    rt.host(y, 2 * heads * n * d),
                    ys);
            return ran ? own(shim.view(y, new long[] {heads, n, d}, new long[] {ys[0], ys[1], 1}, 0)) : null;
        } finally {
            shim.delete(y); // the view holds the memory
        }
    }

    // ---- helpers

    private long unary(String op, long x) {
        long[] st = {shim.newHandle(x)};
        shim.dispatch(op, "", st);
        return st[0];
    }

    private long binary(String op, String overload, long a, long b) {
        long[] st = {shim.newHandle(a), shim.newHandle(b)};
        shim.dispatch(op, overload, st);
        return st[0];
    }

    private long gather(long a, long index) {
        long[] st = {shim.newHandle(a), ofInt(0), shim.newHandle(index)};
        shim.dispatch("aten::index_select", "", st);
        return st[0];
    }

    /** A new handle to {@code t} in dtype {@code to}: the same tensor, or a converted copy. */
    private long as(Tensor t, DType to) {
        if (t.dtype() == to) {
            return shim.newHandle(h(t));
        }
        long out = rt.empty(t.shape(), to);
        shim.copy(out, h(t));
        return out;
    }

    /** {@code x} itself (a new handle) when its last axis has stride 1, as the flash kernel reads it, else a copy. */
    private long lastAxisDense(long x, long[] shape) {
        long[] st = shim.strides(x);
        if (shape.length == 0 || st[st.length - 1] == 1 || shape[shape.length - 1] <= 1) {
            return shim.newHandle(x);
        }
        long out = rt.empty(shape, rt.dtypeOf(x));
        shim.copy(out, x);
        return out;
    }

    private static long temp(List<Long> temps, long handle) {
        temps.add(handle);
        return handle;
    }

    /**
     * Query {@code i} (sequence position {@code queryStart + i}) sees context positions {@code 0..queryStart+i}:
     * a {@code [1, 1, n, s]} additive mask whose rows start at multiples of {@link #MASK_ROW_ALIGN} elements
     * on a device (the CUDA kernel's requirement).
     */
    private long chunkMask(long n, long s, int queryStart, DType dtype) {
        long row = rt.onHost() ? s : alignUp(s);
        long[] shape = {n, row};
        long host = rt.hostEmpty(shape, dtype);
        MemorySegment seg = rt.host(host, n * row * dtype.byteSize());
        for (long i = 0; i < n; i++) {
            for (long j = 0; j < row; j++) {
                dtype.setFloat(seg, i * row + j, j <= queryStart + i ? 0f : Float.NEGATIVE_INFINITY);
            }
        }
        long m = rt.upload(host, shape, dtype);
        try {
            return shim.view(m, new long[] {1, 1, n, s}, new long[] {0, 0, row, 1}, 0);
        } finally {
            shim.delete(m);
        }
    }

    /** CUDA's memory-efficient attention reads bias rows at 16-byte-aligned offsets: rows padded to 16 elements. */
    private static final long MASK_ROW_ALIGN = 16;

    private static long alignUp(long s) {
        return (s + MASK_ROW_ALIGN - 1) / MASK_ROW_ALIGN * MASK_ROW_ALIGN;
    }

    /**
     * An additive {@code [T, S]} mask viewed as {@code [1, 1, T, S]} for the fused kernel: on a device copied
     * into rows aligned to {@link #MASK_ROW_ALIGN} elements unless they already are.
     */
    private long mask4d(long mc, long[] ms) {
        long[] mst = shim.strides(mc);
        if (rt.onHost() || (mst[1] == 1 && mst[0] % MASK_ROW_ALIGN == 0)) {
            return shim.view(mc, new long[] {1, 1, ms[0], ms[1]}, new long[] {0, 0, mst[0], mst[1]}, 0);
        }
        long row = alignUp(ms[1]);
        long padded = rt.empty(new long[] {ms[0], row}, rt.dtypeOf(mc));
        try {
            long rows = shim.view(padded, ms, new long[] {row, 1}, 0);
            try {
                shim.copy(rows, mc);
            } finally {
                shim.delete(rows);
            }
            return shim.view(padded, new long[] {1, 1, ms[0], ms[1]}, new long[] {0, 0, row, 1}, 0);
        } finally {
            shim.delete(padded);
        }
    }

    /**
     * The device's fused attention ({@link AotiShim.Kernels#attention}), or on CUDA, for head sizes its
     * memory-efficient kernel has no bf16 variant for (not a multiple of 8) and for anything it refuses, the
     * same maths from matmul and softmax (scores materialised: only the tiny test checkpoints take it).
     */
    private long fused(long q4, long k4, long v4, boolean causal, long mask, double scale) {
        if (!kern.isCuda()) {
            return kern.attention(q4, k4, v4, causal, mask, scale);
        }
        long[] qs = shim.sizes(q4);
        if (qs[3] % 8 != 0 || cudaAttentionRefused) {
            return mathAttention(q4, k4, v4, causal, mask, scale);
        }
        long bias = 0;
        try {
            if (mask != 0) {
                // the kernel wants the bias's [B, H] exactly: broadcast axes as zero strides
                long[] ms = shim.sizes(mask);
                long[] mst = shim.strides(mask);
                bias = shim.view(
                        mask,
                        new long[] {qs[0], qs[1], ms[2], ms[3]},
                        new long[] {ms[0] == 1 ? 0 : mst[0], ms[1] == 1 ? 0 : mst[1], mst[2], mst[3]},
                        0);
            }
            return kern.attention(q4, k4, v4, causal, bias, scale);
        } catch (TorchException e) {
            // libtorch said why on stderr; the same maths from matmul and softmax from here on
            cudaAttentionRefused = true;
            System.err.println("jepd: CUDA's memory-efficient attention failed (" + e.getMessage()
                    + "); using matmul + softmax attention in this process from now on");
            return mathAttention(q4, k4, v4, causal, mask, scale);
        } finally {
            if (bias != 0) {
                shim.delete(bias);
            }
        }
    }

    /** Set once CUDA's fused kernel has failed in this process: every later call takes the matmul path. */
    private static volatile boolean cudaAttentionRefused;

    /** {@code softmax(q kᵀ · scale + mask) v} on 4-d handles, the softmax in float32 as Hugging Face's eager path. */
    private long mathAttention(long q4, long k4, long v4, boolean causal, long mask, double scale) {
        List<Long> temps = new ArrayList<>();
        try {
            long[] ks = shim.sizes(k4);
            long[] kst = shim.strides(k4);
            long kt = temp(
                    temps,
                    shim.view(
                            k4,
                            new long[] {ks[0], ks[1], ks[3], ks[2]},
                            new long[] {kst[0], kst[1], kst[3], kst[2]},
                            0));
            long scores = temp(temps, binary("aten::matmul", "", q4, kt)); // [B, H, L, S]
            long[] ss = shim.sizes(scores);
            long x = temp(temps, as32(scores, ss));
            x = temp(temps, kern.mulScalar(x, scale));
            if (mask != 0) {
                x = temp(temps, kern.addTensor(x, temp(temps, as32(mask, shim.sizes(mask))), 1.0));
            }
            if (causal) {
                // top left aligned, as the fused kernels' flag
                long cm = temp(temps, chunkMask(ss[2], ss[3], 0, DType.F32));
                x = temp(temps, kern.addTensor(x, cm, 1.0));
            }
            long[] st = {shim.newHandle(x), ofInt(-1), ofBool(false)};
            shim.dispatch("aten::_softmax", "", st);
            long p = temp(temps, st[0]);
            DType vt = rt.dtypeOf(v4);
            if (vt != DType.F32) {
                long pc = temp(temps, rt.empty(ss, vt));
                shim.copy(pc, p);
                p = pc;
            }
            return binary("aten::matmul", "", p, v4);
        } finally {
            temps.forEach(shim::delete);
        }
    }

    /** A new handle to {@code x} in float32 (itself, or a converted copy). */
    private long as32(long x, long[] shape) {
        if (rt.dtypeOf(x) == DType.F32) {
            return shim.newHandle(x);
        }
        long out = rt.empty(shape, DType.F32);
        shim.copy(out, x);
        return out;
    }

    /** Leading axes of q, k, v broadcast together (everything but the last two). */
    private static long[] broadcastLead(long[]... shapes) {
        int r = shapes[0].length - 2;
        long[] lead = new long[r];
        for (int i = 0; i < r; i++) {
            long size = 1;
            for (long[] s : shapes) {
                long x = s[i];
                if (x != 1) {
                    if (size != 1 && size != x) {
                        throw new IllegalArgumentException(
                                "attention: leading axes do not broadcast: " + Arrays.deepToString(shapes));
                    }
                    size = x;
                }
            }
            lead[i] = size;
        }
        return lead;
    }

    /** {@code [...lead, L, d]} expanded to {@code lead} (zero strides) and folded to {@code [B, H, L, d]}. */
    private long to4d(long x, long[] shape, long[] lead) {
        int r = shape.length;
        long[] st = shim.strides(x);
        long[] size = new long[r];
        long[] stride = new long[r];
        for (int i = 0; i < r; i++) {
            boolean broadcast = i < lead.length && shape[i] == 1 && lead[i] != 1;
            size[i] = i < lead.length ? lead[i] : shape[i];
            stride[i] = broadcast ? 0 : st[i];
        }
        long[] s4;
        long[] t4;
        switch (lead.length) {
            case 0 -> {
                s4 = new long[] {1, 1, size[0], size[1]};
                t4 = new long[] {0, 0, stride[0], stride[1]};
            }
            case 1 -> {
                s4 = new long[] {1, size[0], size[1], size[2]};
                t4 = new long[] {0, stride[0], stride[1], stride[2]};
            }
            case 2 -> {
                s4 = size;
                t4 = stride;
            }
            default -> {
                long expanded = shim.view(x, size, stride, 0);
                try {
                    long b = 1;
                    for (int i = 0; i < lead.length - 1; i++) {
                        b *= lead[i];
                    }
                    long[] folded = {b, lead[lead.length - 1], shape[r - 2], shape[r - 1]};
                    long reshaped = kern.reshape(expanded, folded);
                    try {
                        return lastAxisDense(reshaped, folded);
                    } finally {
                        shim.delete(reshaped);
                    }
                } finally {
                    shim.delete(expanded);
                }
            }
        }
        return shim.view(x, s4, t4, 0);
    }

    /** softmax(q kᵀ · scale + mask) v from matmul and softmax, for the shapes the flash kernel does not take. */
    private Tensor composedAttention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        int r = k.rank();
        int[] axes = new int[r];
        for (int i = 0; i < r; i++) {
            axes[i] = i;
        }
        axes[r - 1] = r - 2;
        axes[r - 2] = r - 1;
        Tensor scores = scale(matmul(q, permute(k, axes)), scale);
        if (mask != null) {
            scores = add(scores, mask);
        }
        return matmul(softmaxLastAxis(scores), v);
    }

    private static DType common(DType a, DType b) {
        if (a == b) {
            return a;
        }
        return DType.F32;
    }

    private static void checkCount(int n, long[] shape) {
        if (TorchRuntime.numel(shape) != n) {
            throw new IllegalArgumentException(n + " values for shape " + Arrays.toString(shape));
        }
    }
}
