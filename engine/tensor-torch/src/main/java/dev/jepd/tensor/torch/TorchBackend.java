package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.TensorScope;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Optional;

/**
 * {@link TensorBackend} on libtorch through its stable C ABI ({@link AotiShim}), with bf16 kept as bf16.
 * This class holds the per-thread scope stack and hands every op to {@link TorchOps}, which owns the
 * implementations.
 */
public final class TorchBackend implements TensorBackend {
    static {
        // load, copyOut and registrable hand libtorch's native-order memory out as little-endian bytes.
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("TorchBackend needs a little-endian host");
        }
    }

    private final TorchRuntime rt;
    private final TorchOps ops;
    // Owns what a scope keeps when it has no parent; closed with the backend.
    private final TorchScope root;
    private final ThreadLocal<Deque<TorchScope>> current = ThreadLocal.withInitial(ArrayDeque::new);

    private final DType dtype;

    /**
     * The process's libtorch ({@link AotiShim#shared()}) on the CPU, dtype "auto": checkpoint tensors keep
     * their stored dtype (bf16 stays bf16), {@code fromFloats} and {@code zeros} make F32.
     */
    public TorchBackend() {
        this(AotiShim.shared(), Device.CPU, null);
    }

    /**
     * @param dtype F32 or BF16: every floating tensor made or loaded is of this dtype (vLLM's {@code --dtype};
     *     the KV cache and the rotary tables included, as in Hugging Face's bf16 run); null for "auto"
     */
    public TorchBackend(AotiShim shim, Device device, DType dtype) {
        if (dtype != null && dtype != DType.F32 && dtype != DType.BF16) {
            throw new IllegalArgumentException("the libtorch backend computes in F32 or BF16, not " + dtype);
        }
        this.rt = new TorchRuntime(shim, device);
        this.dtype = dtype;
        this.root = new TorchScope(this, null);
        this.ops = new TorchOps(rt, this::currentScope, dtype);
    }

    /** The process's libtorch on the CPU, computing in {@code dtype} (F32 or BF16; null for auto). */
    public static TorchBackend cpu(DType dtype) {
        return new TorchBackend(AotiShim.shared(), Device.CPU, dtype);
    }

    /** Says which libtorch runs and where, for the ready line and /metrics. */
    @Override
    public String name() {
        LibTorchLocation l = rt.shim().location();
        String d = dtype == null ? "auto" : dtype.name().toLowerCase(java.util.Locale.ROOT);
        return "torch (libtorch " + l.version() + ", " + rt.device() + ", dtype " + d + ", " + l.source() + ")";
    }

    @Override
    public Device device() {
        return rt.device();
    }

    @Override
    public TensorScope scope() {
        Deque<TorchScope> stack = current.get();
        TorchScope s = new TorchScope(this, stack.peek());
        stack.push(s);
        return s;
    }

    TorchScope root() {
        return root;
    }

    private TorchScope currentScope() {
        TorchScope s = current.get().peek();
        if (s == null) {
            throw new IllegalStateException("tensor op outside any TensorScope: open one with backend.scope()");
        }
        return s;
    }

    void pop(TorchScope s) {
        Deque<TorchScope> stack = current.get();
        if (!stack.isEmpty() && stack.peek() == s) {
            stack.pop();
        } else {
            stack.remove(s);
        }
    }

    @Override
    public void close() {
        root.close();
    }

    // ---- every op is TorchOps'

    @Override
    public Tensor fromFloats(float[] data, long... shape) {
        return ops.fromFloats(data, shape);
    }

    @Override
    public Tensor fromLongs(long[] data, long... shape) {
        return ops.fromLongs(data, shape);
    }

    @Override
    public Tensor zeros(long... shape) {
        return ops.zeros(shape);
    }

    @Override
    public Tensor load(MemorySegment stored, DType storedType, long... shape) {
        return ops.load(stored, storedType, shape);
    }

    @Override
    public void copyOut(Tensor t, MemorySegment dst) {
        ops.copyOut(t, dst);
    }

    @Override
    public Optional<MemorySegment> registrable(Tensor t) {
        return ops.registrable(t);
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return ops.add(a, b);
    }

    @Override
    public Tensor sub(Tensor a, Tensor b) {
        return ops.sub(a, b);
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        return ops.mul(a, b);
    }

    @Override
    public Tensor div(Tensor a, Tensor b) {
        return ops.div(a, b);
    }

    @Override
    public Tensor scale(Tensor a, float s) {
        return ops.scale(a, s);
    }

    @Override
    public Tensor addScalar(Tensor a, float s) {
        return ops.addScalar(a, s);
    }

    @Override
    public Tensor neg(Tensor a) {
        return ops.neg(a);
    }

    @Override
    public Tensor cos(Tensor a) {
        return ops.cos(a);
    }

    @Override
    public Tensor sin(Tensor a) {
        return ops.sin(a);
    }

    @Override
    public Tensor sqrt(Tensor a) {
        return ops.sqrt(a);
    }

    @Override
    public Tensor sigmoid(Tensor a) {
        return ops.sigmoid(a);
    }

    @Override
    public Tensor silu(Tensor a) {
        return ops.silu(a);
    }

    @Override
    public Tensor gelu(Tensor a) {
        return ops.gelu(a);
    }

    @Override
    public Tensor meanLastAxis(Tensor a) {
        return ops.meanLastAxis(a);
    }

    @Override
    public Tensor softmaxLastAxis(Tensor a) {
        return ops.softmaxLastAxis(a);
    }

    @Override
    public Tensor matmul(Tensor a, Tensor b) {
        return ops.matmul(a, b);
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        return ops.linear(x, w, bias);
    }

    @Override
    public Tensor reshape(Tensor a, long... shape) {
        return ops.reshape(a, shape);
    }

    @Override
    public Tensor permute(Tensor a, int... axes) {
        return ops.permute(a, axes);
    }

    @Override
    public Tensor concat(List<Tensor> parts, int axis) {
        return ops.concat(parts, axis);
    }

    @Override
    public Tensor slice(Tensor a, int axis, long start, long end) {
        return ops.slice(a, axis, start, end);
    }

    @Override
    public Tensor gatherRows(Tensor a, Tensor index) {
        return ops.gatherRows(a, index);
    }

    @Override
    public void scatterRows(Tensor dst, Tensor index, Tensor src) {
        ops.scatterRows(dst, index, src);
    }

    @Override
    public Tensor rmsNorm(Tensor x, Tensor w, float eps) {
        return ops.rmsNorm(x, w, eps);
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        return ops.attention(q, k, v, mask, scale);
    }

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
        return ops.pagedAttention(q, k, v, keyCache, valueCache, contextSlots, queryStart, scale);
    }

    @Override
    public Tensor varlenAttention(Tensor q, Tensor k, Tensor v, int[] cuSeqlens, float scale) {
        return ops.varlenAttention(q, k, v, cuSeqlens, scale);
    }
}
