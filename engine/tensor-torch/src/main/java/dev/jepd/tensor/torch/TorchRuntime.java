package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The shim bound to one device, with the mapping between the SPI's {@link DType} / {@link Device} and
 * libtorch's codes, and the conversions that need no scope (reading values out, contiguous copies).
 */
final class TorchRuntime {
    private final AotiShim shim;
    private final Device device;
    private final int devType;
    private final int devIndex;

    TorchRuntime(AotiShim shim, Device device) {
        this.shim = shim;
        this.device = device;
        this.devType = switch (device.type()) {
            case CPU -> shim.deviceCpu;
            case CUDA -> shim.deviceCuda;
            case XPU -> shim.deviceXpu;
        };
        this.devIndex = device.index();
        if (device.type() != Device.Type.CPU) {
            // The typed shim functions bound today are the aoti_torch_cpu_* ones; their aoti_torch_cuda_* twins
            // and a device-aware load/copyOut come with the GPU issue.
            throw new UnsupportedOperationException("the libtorch backend runs on the CPU only so far, not " + device);
        }
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
        long h = contiguous(t.handle(), shape, t.dtype(), DType.F32);
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

    long[] toLongs(TorchTensor t) {
        long[] shape = t.shape();
        long h = contiguous(t.handle(), shape, t.dtype(), DType.I64);
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

    /** The first {@code bytes} of a host tensor's data. */
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
