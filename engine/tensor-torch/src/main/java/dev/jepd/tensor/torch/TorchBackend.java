package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.OpsProfile;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Optional;

/**
 * {@link TensorBackend} on libtorch through its stable C ABI ({@link AotiShim}), with bf16 kept as bf16.
 * Scopes are {@link TorchScope}s; the ops on one are a {@link TorchOps} bound to it, which owns every
 * implementation.
 */
public final class TorchBackend implements TensorBackend {
    static {
        // load, copyOut and registrable hand libtorch's native-order memory out as little-endian bytes.
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("TorchBackend needs a little-endian host");
        }
    }

    /** DJL's switch for probing CUDA in a child process instead of this one. */
    static final String DJL_CUDA_FORK = "ai.djl.util.cuda.fork";

    private final TorchRuntime rt;
    // copyOut and registrable read a tensor and make none: they need no scope.
    private final TorchOps io;
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
        if (device.type() != Device.Type.CPU && System.getProperty(DJL_CUDA_FORK) == null) {
            // DJL (its tokenizers, on every node) probes CUDA in-process through JNA with a cudart of its own
            // finding; measured on an H200, every libtorch kernel first launched after that probe fails with
            // "invalid resource handle". Forked, DJL probes in a child process and leaves this one's CUDA alone.
            System.setProperty(DJL_CUDA_FORK, "true");
            // Its child prints JNA's native-access warnings, which DJL cannot parse and logs with a stack trace
            // (then counts no GPU, which its CPU-only tokenizers never needed): that log line only.
            System.setProperty("org.slf4j.simpleLogger.log.ai.djl.util.cuda.CudaUtils", "off");
        }
        this.rt = new TorchRuntime(shim, device);
        this.dtype = dtype;
        this.io = new TorchOps(rt, null, dtype);
    }

    /** The process's libtorch on the CPU, computing in {@code dtype} (F32 or BF16; null for auto). */
    public static TorchBackend cpu(DType dtype) {
        return on(Device.CPU, dtype);
    }

    /**
     * The process's libtorch on {@code device} (a CUDA device needs a CUDA build of torch: {@code JEPD_PYTHON}
     * or {@code --torch-library-path} naming one), computing in {@code dtype} (F32 or BF16; null for auto).
     * A device that cannot be used is a {@link LibTorchUnavailableException} saying why, here and not at the
     * first request.
     */
    public static TorchBackend on(Device device, DType dtype) {
        return new TorchBackend(AotiShim.shared(), device, dtype);
    }

    /**
     * vLLM's {@code --device}: {@code cpu}, {@code cuda[:N]}, {@code xpu[:N]}, or {@code auto} (the first CUDA
     * device when the loaded libtorch has CUDA kernels and the driver sees a GPU, else the CPU).
     */
    public static Device resolve(String spec) {
        if (!spec.equals("auto")) {
            return Device.parse(spec);
        }
        AotiShim shim = AotiShim.shared();
        boolean gpu = shim.hasCuda()
                && CudaDriver.find().map(d -> d.deviceCount() > 0).orElse(false);
        return gpu ? Device.cuda(0) : Device.CPU;
    }

    /**
     * Why {@code device} cannot be used by this process's libtorch, or empty when it can be tried: the CPU
     * always; a CUDA device when the libtorch is a CUDA build, the NVIDIA driver loads and has that device.
     * Loads libtorch (and fails as {@link #on} would when there is none).
     */
    public static Optional<String> whyUnusable(Device device) {
        if (device.type() == Device.Type.CPU) {
            return Optional.empty();
        }
        if (device.type() != Device.Type.CUDA) {
            return Optional.of(device + ": only CUDA devices are bound so far");
        }
        AotiShim shim = AotiShim.shared();
        if (!shim.hasCuda()) {
            return Optional.of(shim.whyNoCuda());
        }
        Optional<CudaDriver> driver = CudaDriver.find();
        if (driver.isEmpty()) {
            return Optional.of("no NVIDIA driver here (libcuda.so.1 does not load or cuInit fails)");
        }
        int count = driver.get().deviceCount();
        if (device.index() >= count) {
            return Optional.of("the driver sees " + count + " GPU(s); there is no " + device);
        }
        return Optional.empty();
    }

    /** Says which libtorch runs and where, for the ready line and /metrics. */
    @Override
    public String name() {
        LibTorchLocation l = rt.shim().location();
        String d = dtype == null ? "auto" : dtype.name().toLowerCase(java.util.Locale.ROOT);
        String where = rt.device().toString();
        if (rt.device().type() == Device.Type.CUDA) {
            where += CudaDriver.find()
                    .map(c -> " (" + c.describe(rt.device().index()) + ")")
                    .orElse("");
        }
        String host = rt.onHost()
                ? "; " + NativeKernels.describe() + "; huge pages "
                        + (System.getenv()
                                        .getOrDefault("THP_MEM_ALLOC_ENABLE", "0")
                                        .equals("1")
                                ? "on"
                                : "off")
                        + (AotiShim.freedMemoryKept ? "; malloc keeps freed memory" : "")
                        + ("1".equals(System.getenv("MALLOC_ARENA_MAX")) ? ", one arena" : "")
                : "";
        return "torch (libtorch " + l.version() + ", " + where + ", dtype " + d + ", " + l.source() + host + ")";
    }

    @Override
    public DType computeType() {
        return dtype == null ? DType.F32 : dtype;
    }

    @Override
    public void synchronize() {
        if (rt.device().type() == Device.Type.CUDA) {
            CudaDriver.find().orElseThrow().synchronize(rt.device().index());
        }
    }

    @Override
    public Optional<long[]> deviceMemory() {
        if (rt.device().type() != Device.Type.CUDA) {
            return Optional.empty();
        }
        return CudaDriver.find().map(c -> c.memoryInfo(rt.device().index()));
    }

    @Override
    public Device device() {
        return rt.device();
    }

    @Override
    public Scope open() {
        return new TorchScope(null);
    }

    @Override
    public Ops ops(Scope scope) {
        return OpsProfile.wrap(new TorchOps(rt, (TorchScope) scope, dtype));
    }

    /** On the CPU: compiles the Java bf16 kernels ({@link Bf16Rows}), waiting for a warm-up already under way. */
    @Override
    public void warmUp() {
        if (rt.onHost() && dtype != DType.F32 && TorchOps.JAVA_ROWS) {
            Bf16Rows.warmUpInBackground();
            Bf16Rows.awaitWarmUp();
        }
    }

    @Override
    public void copyOut(Tensor t, MemorySegment dst) {
        io.copyOut(t, dst);
    }

    @Override
    public Optional<MemorySegment> registrable(Tensor t) {
        return io.registrable(t);
    }

    /** Nothing to free: every tensor belongs to a scope its owner closes; libtorch stays loaded for the process. */
    @Override
    public void close() {}
}
