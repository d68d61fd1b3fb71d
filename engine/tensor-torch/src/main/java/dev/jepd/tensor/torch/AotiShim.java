package dev.jepd.tensor.torch;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Downcalls into one loaded libtorch's stable C ABI: the AOTInductor shim ({@code aoti_torch_*} of
 * {@code torch/csrc/inductor/aoti_torch/c/shim.h} and its generated {@code aoti_torch_cpu_*} twins) and
 * {@code aoti_torch_call_dispatcher}, nothing of libtorch's C++ ABI. Independent of the tensor SPI: a
 * tensor here is an {@code AtenTensorHandle}, a plain address held in a {@code long} (a pointer and an
 * int64 travel alike in the x86-64 and AArch64 calling conventions), and every call that makes a handle
 * returns a new reference the caller must {@link #delete}.
 *
 * <p>Every function used is present from libtorch 2.7 (DJL's embedded build) on; a library that lacks one is
 * refused at load time with the list of what is missing.
 */
public final class AotiShim {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final ValueLayout.OfLong L = ValueLayout.JAVA_LONG;
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE;

    private static volatile AotiShim shared;

    private final LibTorchLocation location;

    // dtype, device and memory-format codes, read from the library (they are C10 enum values)
    final int dtypeF32;
    final int dtypeBf16;
    final int dtypeF16;
    final int dtypeI64;
    final int dtypeI32;
    final int dtypeBool;
    final int deviceCpu;
    final int deviceCuda;
    final int deviceXpu;

    private final MethodHandle emptyStrided;
    private final MethodHandle fromBlob;
    private final MethodHandle deleteTensor;
    private final MethodHandle newHandle;
    private final MethodHandle dataPtr;
    private final MethodHandle dim;
    private final MethodHandle sizes;
    private final MethodHandle strides;
    private final MethodHandle dtype;
    private final MethodHandle deviceType;
    private final MethodHandle deviceIndex;
    private final MethodHandle reinterpret;
    private final MethodHandle copy;
    private final MethodHandle zero;
    private final MethodHandle dispatcher;
    private final Kernels cpuKernels;
    private final Kernels cudaKernels; // null when the library has no CUDA build
    private final String noCuda; // why cudaKernels is null

    private final Map<String, MemorySegment> cStrings = new ConcurrentHashMap<>();
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    private AotiShim(LibTorchLocation location, SymbolLookup lib, SymbolLookup cudaLib, String cudaLoadError) {
        this.location = location;
        Binder b = new Binder(lib);
        MethodHandle f32 = b.bind("aoti_torch_dtype_float32", FunctionDescriptor.of(I));
        MethodHandle bf16 = b.bind("aoti_torch_dtype_bfloat16", FunctionDescriptor.of(I));
        MethodHandle f16 = b.bind("aoti_torch_dtype_float16", FunctionDescriptor.of(I));
        MethodHandle i64 = b.bind("aoti_torch_dtype_int64", FunctionDescriptor.of(I));
        MethodHandle i32 = b.bind("aoti_torch_dtype_int32", FunctionDescriptor.of(I));
        MethodHandle bool = b.bind("aoti_torch_dtype_bool", FunctionDescriptor.of(I));
        MethodHandle cpu = b.bind("aoti_torch_device_type_cpu", FunctionDescriptor.of(I));
        MethodHandle cuda = b.bind("aoti_torch_device_type_cuda", FunctionDescriptor.of(I));
        MethodHandle xpu = b.bind("aoti_torch_device_type_xpu", FunctionDescriptor.of(I));
        emptyStrided = b.bind("aoti_torch_empty_strided", FunctionDescriptor.of(I, L, L, L, I, I, I, L));
        fromBlob = b.bind("aoti_torch_create_tensor_from_blob", FunctionDescriptor.of(I, L, L, L, L, L, I, I, I, L));
        deleteTensor = b.bind("aoti_torch_delete_tensor_object", FunctionDescriptor.of(I, L));
        newHandle = b.bind("aoti_torch_new_tensor_handle", FunctionDescriptor.of(I, L, L));
        dataPtr = b.bind("aoti_torch_get_data_ptr", FunctionDescriptor.of(I, L, L));
        dim = b.bind("aoti_torch_get_dim", FunctionDescriptor.of(I, L, L));
        sizes = b.bind("aoti_torch_get_sizes", FunctionDescriptor.of(I, L, L));
        strides = b.bind("aoti_torch_get_strides", FunctionDescriptor.of(I, L, L));
        dtype = b.bind("aoti_torch_get_dtype", FunctionDescriptor.of(I, L, L));
        deviceType = b.bind("aoti_torch_get_device_type", FunctionDescriptor.of(I, L, L));
        deviceIndex = b.bind("aoti_torch_get_device_index", FunctionDescriptor.of(I, L, L));
        reinterpret = b.bind("aoti_torch__reinterpret_tensor", FunctionDescriptor.of(I, L, L, L, L, L, L));
        copy = b.bind("aoti_torch_copy_", FunctionDescriptor.of(I, L, L, I));
        zero = b.bind("aoti_torch_zero_", FunctionDescriptor.of(I, L));
        dispatcher = b.bind("aoti_torch_call_dispatcher", FunctionDescriptor.of(I, L, L, L));
        cpuKernels = new Kernels("cpu", b);
        if (!b.missing.isEmpty()) {
            throw new LibTorchUnavailableException(location + " is too old or not a full libtorch: it lacks "
                    + String.join(", ", b.missing) + " (JEPD needs libtorch >= 2.7 with the AOTInductor C shim)");
        }
        if (cudaLib == null) {
            cudaKernels = null;
            noCuda = cudaLoadError;
        } else {
            Binder cb = new Binder(cudaLib.or(lib));
            Kernels k = new Kernels("cuda", cb);
            cudaKernels = cb.missing.isEmpty() ? k : null;
            noCuda = cb.missing.isEmpty()
                    ? null
                    : location + " has libtorch_cuda.so but it lacks " + String.join(", ", cb.missing);
        }
        try {
            dtypeF32 = (int) f32.invokeExact();
            dtypeBf16 = (int) bf16.invokeExact();
            dtypeF16 = (int) f16.invokeExact();
            dtypeI64 = (int) i64.invokeExact();
            dtypeI32 = (int) i32.invokeExact();
            dtypeBool = (int) bool.invokeExact();
            deviceCpu = (int) cpu.invokeExact();
            deviceCuda = (int) cuda.invokeExact();
            deviceXpu = (int) xpu.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The libtorch of this process: located ({@link LibTorchLocator}) and loaded on first use, then shared;
     * a process holds one libtorch.
     */
    public static AotiShim shared() {
        AotiShim s = shared;
        if (s == null) {
            synchronized (AotiShim.class) {
                s = shared;
                if (s == null) {
                    s = load(LibTorchLocator.locate());
                    shared = s;
                }
            }
        }
        return s;
    }

    /**
     * Loads {@code location}'s {@code libtorch_cpu.so} (its own RUNPATH finds {@code libc10} and the OpenMP
     * runtime next to it). Sets {@code OMP_WAIT_POLICY=PASSIVE} first unless the environment says otherwise:
     * OpenMP threads that spin between the many small ops of a decode step steal the cores the JVM's own
     * threads (HTTP, scheduler, GC) need. libtorch's allocator stays on 4 KB pages unless the environment sets
     * {@code THP_MEM_ALLOC_ENABLE=1} (transparent huge pages for its blocks of 2 MB and more): huge pages write 1 GiB
     * into a fresh result at 6.8 against 3.8 GB/s, but in the model, where every op's result is fresh memory, eight
     * alternated pairs on the VM of docs/PERF.md ran the vision block at a median of 53.6 against 47.2 ms and the
     * prefill layer at 74.0 against 68.6 ms with them, and every run of its slow mode (blocks of 62-68 ms) had them.
     */
    static AotiShim load(LibTorchLocation wanted) {
        LibTorchLocation location = wanted;
        Optional<Path> loaded = LibTorchLocator.alreadyLoaded();
        if (loaded.isPresent() && !sameFile(loaded.get(), wanted.torchCpu())) {
            // One libtorch per process: a second libtorch_cpu aborts it while registering its ops again.
            location = new LibTorchLocation(
                    loaded.get().getParent(),
                    LibTorchLocator.versionOf(loaded.get().getParent()),
                    "already loaded in this process; " + wanted.source() + " at " + wanted.libDir() + " not used");
        }
        return open(location);
    }

    /**
     * Loads exactly {@code location}, whatever else the process holds; with it {@code libtorch_cuda.so} when
     * the directory has one (a CUDA build: loading it registers the CUDA kernels, and its RUNPATH finds the
     * CUDA libraries a pip wheel keeps under {@code nvidia/}). A CUDA library that fails to load leaves the
     * CPU usable and the reason for {@link #whyNoCuda}.
     */
    static AotiShim open(LibTorchLocation location) {
        setenvIfUnset("OMP_WAIT_POLICY", "PASSIVE");
        keepFreedMemory();
        SymbolLookup lib;
        try {
            // The library stays loaded for the life of the process: tensors may outlive any one backend.
            lib = SymbolLookup.libraryLookup(location.torchCpu(), Arena.global());
        } catch (IllegalArgumentException e) {
            throw new LibTorchUnavailableException(
                    "cannot load " + location.torchCpu() + " (" + location.source() + "): " + e.getMessage(), e);
        }
        SymbolLookup cuda = null;
        String cudaError;
        Path cudaLib = location.libDir().resolve("libtorch_cuda.so");
        if (!Files.isRegularFile(cudaLib)) {
            cudaError = location + " is a CPU-only build (no libtorch_cuda.so): use a CUDA build of torch for"
                    + " --device cuda";
        } else {
            try {
                cuda = SymbolLookup.libraryLookup(cudaLib, Arena.global());
                cudaError = null;
            } catch (IllegalArgumentException e) {
                cudaError = "cannot load " + cudaLib + ": " + e.getMessage();
            }
        }
        return new AotiShim(location, lib, cuda, cudaError);
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return a.equals(b);
        }
    }

    /** glibc's {@code mallopt} parameters (malloc.h). */
    private static final int M_TRIM_THRESHOLD = -1;

    private static final int M_TOP_PAD = -2;

    private static final int M_MMAP_THRESHOLD = -3;

    /** What the heap grows by past a request that finds its free top short ({@code M_TOP_PAD}): address space only. */
    private static final int TOP_PAD = 1 << 30;

    /** The largest mmap threshold glibc takes on 64-bit (half its 64 MB arena heap). */
    private static final int MMAP_THRESHOLD_MAX = 32 << 20;

    /** Whether {@link #keepFreedMemory} asked glibc to keep freed memory; shown on the backend's line. */
    static volatile boolean freedMemoryKept;

    /**
     * Asks glibc's malloc, which libtorch's CPU allocator calls for every tensor, to keep freed memory for the next
     * tensor instead of handing it back to the kernel: blocks below 32 MB come from the heap ({@code
     * M_MMAP_THRESHOLD}, glibc's maximum) and a heap's free top is trimmed only past 2 GB ({@code M_TRIM_THRESHOLD}). By
     * default glibc maps a large block fresh when its free lists have none, and unmaps or trims it when freed, so
     * a block that misses them costs a page fault per 4 KB it writes: 10 µs each on the AMD EPYC VM of docs/PERF.md
     * (a fresh 1 GiB result written at 1.1 GB/s against 23 GB/s in reused memory). There glibc's own dynamic threshold
     * already served most blocks again; this saved ~30,000 faults (~0.3 s) a {@code bench model} run, within the model's
     * run-to-run spread. The heap also grows by 1 GiB of address space past each request that finds its top short
     * ({@code M_TOP_PAD}; pages are only touched when a tensor is written). With {@code MALLOC_ARENA_MAX=1} in the
     * environment, which {@code bin/jepd} sets for a model-running JVM (glibc reads it at start only), every thread
     * allocates from this one heap: a thread's own arena lives in 64 MB heaps that glibc unmaps whenever one is all
     * free, whatever the trim threshold. On the AMD VM of docs/PERF.md the two together took a {@code bench model}
     * run's vision tower and prefill from 600–2,700 faults on many of their products (those ran 1.5–2× slower) to
     * fewer than 10 each (docs/PERF.md). The process keeps its peak working memory, as vLLM's and PyTorch's caching
     * allocators do.
     * Skipped where the environment already tunes malloc ({@code GLIBC_TUNABLES}, {@code MALLOC_*_}), and with
     * {@code -Djepd.malloc.keep=false}; a libc without {@code mallopt} (not glibc) is left as it is.
     */
    private static void keepFreedMemory() {
        if ("false".equals(System.getProperty("jepd.malloc.keep"))
                || System.getenv("GLIBC_TUNABLES") != null
                || System.getenv("MALLOC_MMAP_THRESHOLD_") != null
                || System.getenv("MALLOC_TRIM_THRESHOLD_") != null) {
            return;
        }
        Optional<MemorySegment> fn = LINKER.defaultLookup().find("mallopt");
        if (fn.isEmpty()) {
            return;
        }
        MethodHandle mallopt = LINKER.downcallHandle(fn.get(), FunctionDescriptor.of(I, I, I));
        try {
            // mallopt answers 1 on success; its value is an int, so 2 GB is the highest trim threshold it takes
            int mmap = (int) mallopt.invokeExact(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX);
            int trim = (int) mallopt.invokeExact(M_TRIM_THRESHOLD, Integer.MAX_VALUE);
            int pad = (int) mallopt.invokeExact(M_TOP_PAD, TOP_PAD);
            freedMemoryKept = mmap == 1 && trim == 1 && pad == 1;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void setenvIfUnset(String name, String value) {
        if (System.getenv(name) != null) {
            return;
        }
        Optional<MemorySegment> fn = LINKER.defaultLookup().find("setenv");
        if (fn.isEmpty()) {
            return;
        }
        MethodHandle setenv =
                LINKER.downcallHandle(fn.get(), FunctionDescriptor.of(I, ValueLayout.ADDRESS, ValueLayout.ADDRESS, I));
        try (Arena a = Arena.ofConfined()) {
            int rc = (int) setenv.invokeExact(a.allocateFrom(name), a.allocateFrom(value), 0);
            if (rc != 0) {
                System.err.println("jepd: could not set " + name + "=" + value + " before loading libtorch");
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public LibTorchLocation location() {
        return location;
    }

    // ---- tensor handles

    /** A new uninitialised tensor with the given sizes and strides. */
    public long emptyStrided(long[] size, long[] stride, int dtypeCode, int devType, int devIndex) {
        Scratch s = scratch.get();
        long m = s.mark();
        try {
            long sz = s.longs(size);
            long st = s.longs(stride);
            long out = s.slot();
            check(
                    (int) emptyStrided.invokeExact((long) size.length, sz, st, dtypeCode, devType, devIndex, out),
                    "aoti_torch_empty_strided");
            return s.read(out);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            s.release(m);
        }
    }

    /** A tensor over memory it does not own: {@code data} must outlive it. */
    public long fromBlob(long data, long[] size, long[] stride, int dtypeCode, int devType, int devIndex) {
        Scratch s = scratch.get();
        long m = s.mark();
        try {
            long sz = s.longs(size);
            long st = s.longs(stride);
            long out = s.slot();
            check(
                    (int) fromBlob.invokeExact(data, (long) size.length, sz, st, 0L, dtypeCode, devType, devIndex, out),
                    "aoti_torch_create_tensor_from_blob");
            return s.read(out);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            s.release(m);
        }
    }

    /** Drops one reference; the memory goes when the last tensor over it does. */
    public void delete(long handle) {
        try {
            check((int) deleteTensor.invokeExact(handle), "aoti_torch_delete_tensor_object");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A second handle to the same tensor (the dispatcher consumes the handles it is given). */
    public long newHandle(long handle) {
        return outLong(newHandle, handle, "aoti_torch_new_tensor_handle");
    }

    public long dataPtr(long handle) {
        return outLong(dataPtr, handle, "aoti_torch_get_data_ptr");
    }

    public int dim(long handle) {
        return Math.toIntExact(outLong(dim, handle, "aoti_torch_get_dim"));
    }

    public long[] sizes(long handle) {
        return borrowedLongs(sizes, handle, "aoti_torch_get_sizes");
    }

    public long[] strides(long handle) {
        return borrowedLongs(strides, handle, "aoti_torch_get_strides");
    }

    public int dtype(long handle) {
        return outInt(dtype, handle, "aoti_torch_get_dtype");
    }

    public int deviceType(long handle) {
        return outInt(deviceType, handle, "aoti_torch_get_device_type");
    }

    public int deviceIndex(long handle) {
        return outInt(deviceIndex, handle, "aoti_torch_get_device_index");
    }

    /** A view of {@code self}'s storage with new sizes and strides, {@code offsetIncrement} elements further on. */
    public long view(long self, long[] size, long[] stride, long offsetIncrement) {
        Scratch s = scratch.get();
        long m = s.mark();
        try {
            long sz = s.longs(size);
            long st = s.longs(stride);
            long out = s.slot();
            check(
                    (int) reinterpret.invokeExact(self, (long) size.length, sz, st, offsetIncrement, out),
                    "aoti_torch__reinterpret_tensor");
            return s.read(out);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            s.release(m);
        }
    }

    /** {@code self.copy_(src)}: broadcasts, converts dtypes and follows both tensors' strides. */
    public void copy(long self, long src) {
        try {
            check((int) copy.invokeExact(self, src, 0), "aoti_torch_copy_");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void zero(long self) {
        try {
            check((int) zero.invokeExact(self), "aoti_torch_zero_");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- typed ops of the generated shim, one set per device type

    /** The kernels for tensors on {@code deviceType}: the CPU's, or CUDA's when this libtorch has them. */
    public Kernels kernels(int deviceType) {
        if (deviceType == deviceCpu) {
            return cpuKernels;
        }
        if (deviceType == deviceCuda) {
            if (cudaKernels == null) {
                throw new LibTorchUnavailableException(noCuda);
            }
            return cudaKernels;
        }
        throw new LibTorchUnavailableException(
                "JEPD binds libtorch's CPU and CUDA kernels; device type " + deviceType + " (XPU) is not bound yet");
    }

    /** Whether this libtorch has CUDA kernels (a CUDA build whose libraries load); says nothing of devices. */
    public boolean hasCuda() {
        return cudaKernels != null;
    }

    /** Why {@link #hasCuda} is false; null when it is true. */
    public String whyNoCuda() {
        return noCuda;
    }

    /**
     * The {@code aoti_torch_<device>_*} functions of the generated shim (ops whose schema has Scalar or list
     * arguments, which the dispatcher's StableIValue stack of libtorch 2.7 cannot carry) and the device's
     * fused attention. Each is the same ATen op on either device: a CPU function given a CUDA tensor would
     * run the CPU kernel on device memory, so the ops pick the set of their tensors' device.
     */
    public final class Kernels {
        private final String prefix;
        private final boolean cuda;
        private final MethodHandle cat;
        private final MethodHandle reshape;
        private final MethodHandle addTensor;
        private final MethodHandle addScalar;
        private final MethodHandle mulScalar;
        private final MethodHandle addmv;
        private final MethodHandle addmmOut;
        private final MethodHandle attention;
        private final MethodHandle addmmActivation;

        private Kernels(String device, Binder b) {
            this.prefix = "aoti_torch_" + device + "_";
            this.cuda = device.equals("cuda");
            cat = b.bind(prefix + "cat", FunctionDescriptor.of(I, L, L, L, L));
            reshape = b.bind(prefix + "reshape", FunctionDescriptor.of(I, L, L, L, L));
            addTensor = b.bind(prefix + "add_Tensor", FunctionDescriptor.of(I, L, L, D, L));
            addScalar = b.bind(prefix + "add_Scalar", FunctionDescriptor.of(I, L, D, D, L));
            mulScalar = b.bind(prefix + "mul_Scalar", FunctionDescriptor.of(I, L, D, L));
            addmv = b.bind(prefix + "addmv", FunctionDescriptor.of(I, L, L, L, D, D, L));
            addmmOut = b.bind(prefix + "addmm_out", FunctionDescriptor.of(I, L, L, L, L, D, D));
            // (self, mat1, mat2, beta, alpha, use_gelu, out)
            addmmActivation =
                    b.bindIfPresent(prefix + "_addmm_activation", FunctionDescriptor.of(I, L, L, L, D, D, I, L));
            attention = cuda
                    // (q, k, v, attn_bias*, compute_log_sumexp, dropout_p, is_causal, scale*, out, lse, seed, offset)
                    ? b.bind(
                            prefix + "_scaled_dot_product_efficient_attention",
                            FunctionDescriptor.of(I, L, L, L, L, I, D, I, L, L, L, L, L))
                    // (q, k, v, dropout_p, is_causal, attn_mask*, scale*, out, logsumexp)
                    : b.bind(
                            prefix + "_scaled_dot_product_flash_attention_for_cpu",
                            FunctionDescriptor.of(I, L, L, L, D, I, L, L, L, L));
        }

        /** True for the CUDA set: its attention wants aligned mask rows (see {@link #attention}). */
        public boolean isCuda() {
            return cuda;
        }

        public long cat(long[] handles, long axis) {
            Scratch s = scratch.get();
            long m = s.mark();
            try {
                long hs = s.longs(handles);
                long out = s.slot();
                check((int) cat.invokeExact(hs, (long) handles.length, axis, out), prefix + "cat");
                return s.read(out);
            } catch (Throwable t) {
                throw rethrow(t);
            } finally {
                s.release(m);
            }
        }

        public long reshape(long self, long[] shape) {
            Scratch s = scratch.get();
            long m = s.mark();
            try {
                long sh = s.longs(shape);
                long out = s.slot();
                check((int) reshape.invokeExact(self, sh, (long) shape.length, out), prefix + "reshape");
                return s.read(out);
            } catch (Throwable t) {
                throw rethrow(t);
            } finally {
                s.release(m);
            }
        }

        /** {@code self + alpha * other}. */
        public long addTensor(long self, long other, double alpha) {
            Scratch s = scratch.get();
            long m = s.mark();
            try {
                long out = s.slot();
                check((int) addTensor.invokeExact(self, other, alpha, out), prefix + "add_Tensor");
                return s.read(out);
            } catch (Throwable t) {
                throw rethrow(t);
            } finally {
                s.release(m);
            }
        }

        /** {@code self + alpha * other} for a scalar {@code other}. */
        public long addScalar(long self, double other, double alpha) {
            Scratch s = scratch.get();
            long m = s.mark();
            try {
                long out = s.slot();
                check((int) addScalar.invokeExact(self, other, alpha, out), prefix + "add_Scalar");
                return s.read(out);
            } catch (Throwable t) {
                throw rethrow(t);
            } finally {
                s.release(m);
            }
        }

        public long mulScalar(long self, double other) {
            Scratch s = scratch.get();
            long m = s.mark();
            try {
                long out = s.slot();
                check((int) mulScalar.invokeExact(self, other, out), prefix + "mul_Scalar");
                return s.read(out);
            } catch (Throwable t) {
                throw rethrow(t);
            } finally {
                s.release(m);
            }
        }

        /** {@code beta * self + alpha * (mat @ vec)}. */
        public long addmv(long self, long mat, long vec, double beta, double alpha) {
            Scratch s = scratch.get();
            long m = s.mark();
            try {
                long out = s.slot();
                check((int) addmv.invokeExact(self, mat, vec, beta, alpha, out), prefix + "addmv");
                return s.read(out);
            } catch (Throwable t) {
                throw rethrow(t);
            } finally {
                s.release(m);
            }
        }

        /** {@code out = beta * self + alpha * (mat1 @ mat2)}. */
        public void addmmOut(long out, long self, long mat1, long mat2, double beta, double alpha) {
            try {
                check((int) addmmOut.invokeExact(out, self, mat1, mat2, beta, alpha), prefix + "addmm_out");
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** Whether {@link #addmmGelu} is there. */
        public boolean hasAddmmActivation() {
            return addmmActivation != null;
        }

        /** {@code gelu(self + mat1 @ mat2)} ({@code aten::_addmm_activation} with use_gelu: exact erf GELU). */
        public long addmmGelu(long self, long mat1, long mat2) {
            Scratch s = scratch.get();
            long m = s.mark();
            try {
                long out = s.slot();
                check(
                        (int) addmmActivation.invokeExact(self, mat1, mat2, 1.0, 1.0, 1, out),
                        prefix + "_addmm_activation");
                return s.read(out);
            } catch (Throwable t) {
                throw rethrow(t);
            } finally {
                s.release(m);
            }
        }

        /**
         * Fused attention: on the CPU libtorch's flash attention ({@code
         * _scaled_dot_product_flash_attention_for_cpu}), on CUDA its memory-efficient kernel ({@code
         * _scaled_dot_product_efficient_attention}: float32 and bf16, with an additive bias; CUDA's flash
         * kernel takes neither). q {@code [B, H, L, E]}, k and v {@code [B, H, S, E]} (any strides with a
         * contiguous last axis), an optional additive mask broadcastable to {@code [B, H, L, S]} (0 for none;
         * on CUDA its rows must start at multiples of 16 elements), {@code causal} aligned to the top left
         * (the two kernels agree only there, so callers use it for L == S). Memory is linear in L and S: the
         * {@code [L, S]} score matrix is never made. Returns the output {@code [B, H, L, E]}, maybe strided.
         */
        public long attention(long q, long k, long v, boolean causal, long mask, double scale) {
            Scratch s = scratch.get();
            long m = s.mark();
            try {
                long maskPtr = 0;
                if (mask != 0) {
                    maskPtr = s.slot();
                    s.write(maskPtr, mask);
                }
                long scalePtr = s.slot();
                s.writeDouble(scalePtr, scale);
                long out = s.slot();
                long lse = s.slot();
                if (cuda) {
                    long seed = s.slot();
                    long offset = s.slot();
                    check(
                            (int) attention.invokeExact(
                                    q, k, v, maskPtr, 0, 0.0, causal ? 1 : 0, scalePtr, out, lse, seed, offset),
                            prefix + "_scaled_dot_product_efficient_attention");
                    deleteIfSet(s.read(seed));
                    deleteIfSet(s.read(offset));
                } else {
                    check(
                            (int) attention.invokeExact(q, k, v, 0.0, causal ? 1 : 0, maskPtr, scalePtr, out, lse),
                            prefix + "_scaled_dot_product_flash_attention_for_cpu");
                }
                deleteIfSet(s.read(lse));
                return s.read(out);
            } catch (Throwable t) {
                throw rethrow(t);
            } finally {
                s.release(m);
            }
        }

        private void deleteIfSet(long handle) {
            if (handle != 0) {
                delete(handle);
            }
        }
    }

    // ---- the dispatcher

    /**
     * Calls the ATen op {@code opName.overload} through {@code aoti_torch_call_dispatcher}. {@code stack}
     * holds the arguments as StableIValues (see {@link StableIValues}) and must be at least as long as the
     * op's arguments and its results; the results come back in its first slots. Tensor arguments are
     * consumed: pass {@link #newHandle} copies. Tensor results are new handles.
     */
    public void dispatch(String opName, String overload, long[] stack) {
        Scratch s = scratch.get();
        long m = s.mark();
        try {
            long st = s.longs(stack);
            int rc = (int) dispatcher.invokeExact(
                    cString(opName).address(), cString(overload).address(), st);
            check(rc, opName + (overload.isEmpty() ? "" : "." + overload));
            for (int i = 0; i < stack.length; i++) {
                stack[i] = s.read(st + 8L * i);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            s.release(m);
        }
    }

    private MemorySegment cString(String s) {
        // The op names are a small fixed set: interned once for the life of the process.
        return cStrings.computeIfAbsent(s, k -> Arena.global().allocateFrom(k, StandardCharsets.UTF_8));
    }

    // ---- plumbing

    private long outLong(MethodHandle mh, long handle, String what) {
        Scratch s = scratch.get();
        long m = s.mark();
        try {
            long out = s.slot();
            check((int) mh.invokeExact(handle, out), what);
            return s.read(out);
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            s.release(m);
        }
    }

    private int outInt(MethodHandle mh, long handle, String what) {
        Scratch s = scratch.get();
        long m = s.mark();
        try {
            long out = s.slot();
            s.write(out, 0);
            check((int) mh.invokeExact(handle, out), what);
            return (int) s.read(out); // little-endian: the int32 sits in the low half of the zeroed slot
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            s.release(m);
        }
    }

    private long[] borrowedLongs(MethodHandle mh, long handle, String what) {
        int n = dim(handle);
        long ptr = outLong(mh, handle, what);
        if (n == 0) {
            return new long[0];
        }
        return MemorySegment.ofAddress(ptr).reinterpret(8L * n).toArray(L);
    }

    private static void check(int rc, String what) {
        if (rc != 0) {
            throw new TorchException("libtorch " + what + " failed (the reason is on stderr, from libtorch)");
        }
    }

    /** Rethrows a downcall's failure unchecked ({@code invokeExact} declares Throwable); use as {@code throw rethrow(t)}. */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }

    /** Looks up each symbol, collecting every missing one for one error. */
    private static final class Binder {
        private final SymbolLookup lib;
        final List<String> missing = new ArrayList<>();

        Binder(SymbolLookup lib) {
            this.lib = lib;
        }

        /** A function JEPD uses only where libtorch has it (null where not): nothing is recorded as missing. */
        MethodHandle bindIfPresent(String name, FunctionDescriptor fd) {
            return lib.find(name).map(sym -> LINKER.downcallHandle(sym, fd)).orElse(null);
        }

        MethodHandle bind(String name, FunctionDescriptor fd) {
            Optional<MemorySegment> sym = lib.find(name);
            if (sym.isEmpty()) {
                missing.add(name);
                return null;
            }
            return LINKER.downcallHandle(sym.get(), fd);
        }
    }

    /**
     * A per-thread native buffer for the small arguments of one call (sizes, strides, out-parameters),
     * handed out and taken back stack-wise, so a call allocates nothing.
     */
    private static final class Scratch {
        private static final long SIZE = 1 << 16;
        // Freed with the thread's Scratch when the thread is gone.
        private final MemorySegment seg = Arena.ofAuto().allocate(MemoryLayout.sequenceLayout(SIZE / 8, L));
        private final long base = seg.address();
        private long used;

        long mark() {
            return used;
        }

        void release(long mark) {
            used = mark;
        }

        /** One zeroed 8-byte slot (an out-parameter libtorch may leave unset reads as none). */
        long slot() {
            long at = alloc(8);
            write(at, 0);
            return at;
        }

        long longs(long[] values) {
            long at = alloc(8L * Math.max(1, values.length));
            MemorySegment.copy(values, 0, seg, L, at - base, values.length);
            return at;
        }

        long read(long address) {
            return seg.get(L, address - base);
        }

        void write(long address, long value) {
            seg.set(L, address - base, value);
        }

        void writeDouble(long address, double value) {
            seg.set(D, address - base, value);
        }

        private long alloc(long bytes) {
            if (used + bytes > SIZE) {
                throw new IllegalArgumentException("a libtorch call with more than " + SIZE / 8 + " array elements");
            }
            long at = base + used;
            used += bytes;
            return at;
        }
    }
}
