package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * The shim bound to one device, with the mapping between the SPI's {@link DType} / {@link Device} and
 * libtorch's codes, and the conversions that need no scope (reading values out, contiguous copies).
 */
final class TorchRuntime {
    private final AotiShim shim;
    private final Device device;
    private final int devType;
    private final int devIndex;
    private final boolean onHost;
    private final AotiShim.Kernels kernels;

    TorchRuntime(AotiShim shim, Device device) {
        this.shim = shim;
        this.device = device;
        this.devType = switch (device.type()) {
            case CPU -> shim.deviceCpu;
            case CUDA -> shim.deviceCuda;
            case XPU -> shim.deviceXpu;
        };
        this.devIndex = device.index();
        this.onHost = device.type() == Device.Type.CPU;
        this.kernels = shim.kernels(devType);
        if (!onHost) {
            // One byte on the device now, so that a missing device is a start-up error, not the first request's.
            long probe;
            try {
                probe = shim.emptyStrided(new long[] {1}, new long[] {1}, shim.dtypeF32, devType, devIndex);
            } catch (TorchException e) {
                throw new LibTorchUnavailableException(
                        "cannot allocate on " + device + " with " + shim.location()
                                + ": no such device, or its driver does not answer (libtorch's reason is on stderr)",
                        e);
            }
            shim.delete(probe);
        }
    }

    /** The kernels of this runtime's device type. */
    AotiShim.Kernels kernels() {
        return kernels;
    }

    /** True when tensors live in host memory (the CPU device): their data can be read and written in place. */
    boolean onHost() {
        return onHost;
    }

    AotiShim shim() {
        return shim;
    }

    Device device() {
        return device;
    }

    int code(DType t) {
        return switch (t) {
            case F32 -> shim.dtypeF32;
            case BF16 -> shim.dtypeBf16;
            case F16 -> shim.dtypeF16;
            case I64 -> shim.dtypeI64;
            case I32 -> shim.dtypeI32;
        };
    }

    DType dtypeOf(long handle) {
        int c = shim.dtype(handle);
        if (c == shim.dtypeF32) {
            return DType.F32;
        } else if (c == shim.dtypeBf16) {
            return DType.BF16;
        } else if (c == shim.dtypeF16) {
            return DType.F16;
        } else if (c == shim.dtypeI64) {
            return DType.I64;
        } else if (c == shim.dtypeI32) {
            return DType.I32;
        }
        throw new UnsupportedOperationException("libtorch dtype code " + c + " has no tensor DType");
    }

    /** A new uninitialised row-major tensor on this runtime's device. */
    long empty(long[] shape, DType dtype) {
        return shim.emptyStrided(shape, contiguousStrides(shape), code(dtype), devType, devIndex);
    }

    private final java.util.concurrent.ConcurrentHashMap<Long, Long> ones =
            new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * A {@code [n, 1]} column of ones on the device, made once per width and dtype and kept for the runtime's
     * life (a few KB): {@code rmsNorm}'s mean needs one per call, and an upload per call made the host wait
     * for the device every time. The handle stays the runtime's: callers take {@code newHandle} of it.
     */
    long ones(long n, DType dtype) {
        return ones.computeIfAbsent(n * 8 + dtype.ordinal(), k -> {
            long[] shape = {n, 1};
            long t = hostEmpty(shape, dtype);
            MemorySegment seg = host(t, n * dtype.byteSize());
            for (long i = 0; i < n; i++) {
                dtype.setFloat(seg, i, 1f);
            }
            return upload(t, shape, dtype);
        });
    }

    /**
     * A new tensor laid out as libtorch lays out an element-wise op's result on {@code like}: dense, its axes in the
     * order of {@code like}'s strides (largest first), so that a permuted view gives a result permuted alike.
     */
    long emptyLike(long[] shape, long[] likeStrides, DType dtype) {
        int r = shape.length;
        Integer[] order = new Integer[r];
        for (int i = 0; i < r; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Long.compare(likeStrides[b], likeStrides[a])); // stable: ties keep order
        long[] strides = new long[r];
        long step = 1;
        for (int k = r - 1; k >= 0; k--) {
            strides[order[k]] = step;
            step *= Math.max(1, shape[order[k]]);
        }
        return shim.emptyStrided(shape, strides, code(dtype), devType, devIndex);
    }

    /** A new uninitialised row-major tensor in host memory, whatever the runtime's device. */
    long hostEmpty(long[] shape, DType dtype) {
        return shim.emptyStrided(shape, contiguousStrides(shape), code(dtype), shim.deviceCpu, 0);
    }

    /**
     * A new handle to a row-major host tensor holding {@code h} in {@code to}: {@code h} itself when it already
     * is one, else a copy (from the device: one transfer, which waits for the device's queued work).
     */
    long hostContiguous(long h, long[] shape, DType from, DType to) {
        if (onHost) {
            return contiguous(h, shape, from, to);
        }
        long out = hostEmpty(shape, to);
        shim.copy(out, h);
        return out;
    }

    /**
     * A host tensor {@code host} (row-major, filled by the caller) as a tensor on this runtime's device: the
     * same handle on the CPU, else an upload; {@code host} is consumed either way.
     */
    long upload(long host, long[] shape, DType dtype) {
        if (onHost) {
            return host;
        }
        try {
            long out = empty(shape, dtype);
            shim.copy(out, host);
            return out;
        } finally {
            shim.delete(host);
        }
    }

    /** A new handle: {@code h} itself when it is already row-major contiguous in {@code dtype}, else a copy. */
    long contiguous(long h, long[] shape, DType from, DType to) {
        if (from == to && isContiguous(shape, shim.strides(h))) {
            return shim.newHandle(h);
        }
        long out = empty(shape, to);
        shim.copy(out, h);
        return out;
    }

    float[] toFloats(TorchTensor t) {
        long[] shape = t.shape();
        long h = hostContiguous(t.handle(), shape, t.dtype(), DType.F32);
        try {
            int n = Math.toIntExact(numel(shape));
            float[] out = new float[n];
            if (n > 0) {
                MemorySegment.copy(host(h, 4L * n), ValueLayout.JAVA_FLOAT, 0, out, 0, n);
            }
            return out;
        } finally {
            shim.delete(h);
        }
    }

    /**
     * Elements {@code [from, from + count)} of {@code t} (row-major) into {@code out[off..]}: read in place where
     * {@code t} is a dense host tensor of a floating type (bf16 widened in bulk, no f32 copy of the whole tensor),
     * else through a copy of that range alone (from a device: one transfer of {@code count} elements).
     */
    void toFloats(TorchTensor t, long from, float[] out, int off, int count) {
        long[] shape = t.shape();
        long n = numel(shape);
        Objects.checkFromIndexSize(from, count, n);
        Objects.checkFromIndexSize(off, count, out.length);
        long h = t.handle();
        DType d = t.dtype();
        if (!isContiguous(shape, shim.strides(h))) {
            System.arraycopy(toFloats(t), Math.toIntExact(from), out, off, count);
            return;
        }
        if (onHost && d.isFloatingPoint()) {
            d.getFloats(host(h, n * d.byteSize()), from, out, off, count);
            return;
        }
        long range = shim.view(h, new long[] {count}, new long[] {1}, from);
        try {
            long f = hostContiguous(range, new long[] {count}, d, DType.F32);
            try {
                MemorySegment.copy(host(f, 4L * count), ValueLayout.JAVA_FLOAT, 0, out, off, count);
            } finally {
                shim.delete(f);
            }
        } finally {
            shim.delete(range);
        }
    }

    long[] toLongs(TorchTensor t) {
        long[] shape = t.shape();
        long h = hostContiguous(t.handle(), shape, t.dtype(), DType.I64);
        try {
            int n = Math.toIntExact(numel(shape));
            long[] out = new long[n];
            if (n > 0) {
                MemorySegment.copy(host(h, 8L * n), ValueLayout.JAVA_LONG, 0, out, 0, n);
            }
            return out;
        } finally {
            shim.delete(h);
        }
    }

    /** The first {@code bytes} of a host tensor's data (never a device tensor's: that address is not the host's). */
    MemorySegment host(long h, long bytes) {
        return MemorySegment.ofAddress(shim.dataPtr(h)).reinterpret(bytes);
    }

    static long[] contiguousStrides(long[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= Math.max(1, shape[i]);
        }
        return s;
    }

    /** Row-major with no gaps (axes of size 1 may have any stride, as in torch). */
    static boolean isContiguous(long[] shape, long[] strides) {
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] == 0) {
                return true;
            }
            if (shape[i] != 1 && strides[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }
}
