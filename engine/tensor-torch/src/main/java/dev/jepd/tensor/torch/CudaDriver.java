package dev.jepd.tensor.torch;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * What the NVIDIA driver says about the machine's GPUs, through its C API ({@code libcuda.so.1}: {@code
 * cuInit}, {@code cuDriverGetVersion}, {@code cuDeviceGetName}, {@code cuDeviceTotalMem_v2}, {@code
 * cuMemGetInfo_v2} in the device's primary context): the device names and CUDA version for the ready line
 * and {@code /metrics}, and free memory for sizing the KV cache as vLLM's {@code --gpu-memory-utilization}
 * does. Nothing here allocates; libtorch owns every tensor.
 */
public final class CudaDriver {
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong L = ValueLayout.JAVA_LONG;
    private static volatile Optional<CudaDriver> shared;

    private final MethodHandle driverGetVersion;
    private final MethodHandle deviceGetCount;
    private final MethodHandle deviceGet;
    private final MethodHandle deviceGetName;
    private final MethodHandle deviceTotalMem;
    private final MethodHandle primaryCtxRetain;
    private final MethodHandle primaryCtxRelease;
    private final MethodHandle ctxPush;
    private final MethodHandle ctxPop;
    private final MethodHandle memGetInfo;
    private final MethodHandle ctxSynchronize;

    private CudaDriver(SymbolLookup lib) {
        Linker linker = Linker.nativeLinker();
        java.util.function.BiFunction<String, FunctionDescriptor, MethodHandle> bind =
                (name, fd) -> linker.downcallHandle(lib.find(name).orElseThrow(), fd);
        driverGetVersion = bind.apply("cuDriverGetVersion", FunctionDescriptor.of(I, L));
        deviceGetCount = bind.apply("cuDeviceGetCount", FunctionDescriptor.of(I, L));
        deviceGet = bind.apply("cuDeviceGet", FunctionDescriptor.of(I, L, I));
        deviceGetName = bind.apply("cuDeviceGetName", FunctionDescriptor.of(I, L, I, I));
        deviceTotalMem = bind.apply("cuDeviceTotalMem_v2", FunctionDescriptor.of(I, L, I));
        primaryCtxRetain = bind.apply("cuDevicePrimaryCtxRetain", FunctionDescriptor.of(I, L, I));
        primaryCtxRelease = bind.apply("cuDevicePrimaryCtxRelease_v2", FunctionDescriptor.of(I, I));
        ctxPush = bind.apply("cuCtxPushCurrent_v2", FunctionDescriptor.of(I, L));
        ctxPop = bind.apply("cuCtxPopCurrent_v2", FunctionDescriptor.of(I, L));
        memGetInfo = bind.apply("cuMemGetInfo_v2", FunctionDescriptor.of(I, L, L));
        ctxSynchronize = bind.apply("cuCtxSynchronize", FunctionDescriptor.of(I));
        MethodHandle init = bind.apply("cuInit", FunctionDescriptor.of(I, I));
        try {
            check((int) init.invokeExact(0), "cuInit");
        } catch (Throwable t) {
            throw failure(t);
        }
    }

    /** The driver of this machine, or empty where there is none (no NVIDIA driver, or it fails to start). */
    public static Optional<CudaDriver> find() {
        Optional<CudaDriver> d = shared;
        if (d == null) {
            synchronized (CudaDriver.class) {
                d = shared;
                if (d == null) {
                    d = load();
                    shared = d;
                }
            }
        }
        return d;
    }

    private static Optional<CudaDriver> load() {
        try {
            return Optional.of(new CudaDriver(SymbolLookup.libraryLookup("libcuda.so.1", Arena.global())));
        } catch (RuntimeException | LinkageError e) {
            return Optional.empty();
        }
    }

    /** The CUDA version the driver supports, e.g. {@code 13.0}. */
    public String driverCudaVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(I);
            check((int) driverGetVersion.invokeExact(v.address()), "cuDriverGetVersion");
            int n = v.get(I, 0);
            return n / 1000 + "." + (n % 1000) / 10;
        } catch (Throwable t) {
            throw failure(t);
        }
    }

    public int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(I);
            check((int) deviceGetCount.invokeExact(v.address()), "cuDeviceGetCount");
            return v.get(I, 0);
        } catch (Throwable t) {
            throw failure(t);
        }
    }

    /** The device's marketing name, e.g. {@code NVIDIA H200}. */
    public String name(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            int dev = device(a, ordinal);
            MemorySegment buf = a.allocate(256);
            check((int) deviceGetName.invokeExact(buf.address(), 256, dev), "cuDeviceGetName");
            return buf.getString(0, StandardCharsets.UTF_8);
        } catch (Throwable t) {
            throw failure(t);
        }
    }

    public long totalMemory(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            int dev = device(a, ordinal);
            MemorySegment v = a.allocate(L);
            check((int) deviceTotalMem.invokeExact(v.address(), dev), "cuDeviceTotalMem");
            return v.get(L, 0);
        } catch (Throwable t) {
            throw failure(t);
        }
    }

    /** {@code {free, total}} bytes of the device now, read in its primary context (the one libtorch uses). */
    public long[] memoryInfo(int ordinal) {
        return inPrimaryContext(ordinal, a -> {
            MemorySegment free = a.allocate(L);
            MemorySegment total = a.allocate(L);
            check((int) memGetInfo.invokeExact(free.address(), total.address()), "cuMemGetInfo");
            return new long[] {free.get(L, 0), total.get(L, 0)};
        });
    }

    /** Waits for every stream of the device's primary context (the one libtorch uses) to finish its work. */
    public void synchronize(int ordinal) {
        inPrimaryContext(ordinal, a -> {
            check((int) ctxSynchronize.invokeExact(), "cuCtxSynchronize");
            return null;
        });
    }

    /** A driver call that needs a context: {@code body} runs with the device's primary context current. */
    private interface InContext<T> {
        T run(Arena a) throws Throwable;
    }

    private <T> T inPrimaryContext(int ordinal, InContext<T> body) {
        try (Arena a = Arena.ofConfined()) {
            int dev = device(a, ordinal);
            MemorySegment ctx = a.allocate(L);
            check((int) primaryCtxRetain.invokeExact(ctx.address(), dev), "cuDevicePrimaryCtxRetain");
            try {
                check((int) ctxPush.invokeExact(ctx.get(L, 0)), "cuCtxPushCurrent");
                try {
                    return body.run(a);
                } finally {
                    MemorySegment popped = a.allocate(L);
                    int ignored = (int) ctxPop.invokeExact(popped.address());
                }
            } finally {
                int ignored = (int) primaryCtxRelease.invokeExact(dev);
            }
        } catch (Throwable t) {
            throw failure(t);
        }
    }

    /** One line: {@code NVIDIA H200, 139.8 GiB, driver CUDA 13.0}. */
    public String describe(int ordinal) {
        return String.format(
                java.util.Locale.ROOT,
                "%s, %.1f GiB, driver CUDA %s",
                name(ordinal),
                totalMemory(ordinal) / (double) (1L << 30),
                driverCudaVersion());
    }

    private int device(Arena a, int ordinal) throws Throwable {
        MemorySegment d = a.allocate(I);
        check((int) deviceGet.invokeExact(d.address(), ordinal), "cuDeviceGet(" + ordinal + ")");
        return d.get(I, 0);
    }

    private static void check(int rc, String what) {
        if (rc != 0) {
            throw new TorchException("CUDA driver " + what + " failed with CUresult " + rc);
        }
    }

    private static RuntimeException failure(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
