package dev.jepd.tensor.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Tensor;

/** A DJL NDArray seen through the SPI. */
final class DjlTensor implements Tensor {
    final NDArray array;

    DjlTensor(NDArray array) {
        this.array = array;
    }

    @Override
    public long[] shape() {
        return array.getShape().getShape();
    }

    @Override
    public DType dtype() {
        DataType t = array.getDataType();
        return switch (t) {
            case FLOAT32 -> DType.F32;
            case INT64 -> DType.I64;
            case INT32 -> DType.I32;
            case FLOAT16 -> DType.F16;
            case BFLOAT16 -> DType.BF16;
            default -> throw new UnsupportedOperationException("DJL data type " + t + " has no tensor DType");
        };
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public float[] toFloats() {
        if (array.getDataType() != DataType.FLOAT32) {
            try (NDArray f = array.toType(DataType.FLOAT32, true)) {
                return f.toFloatArray();
            }
        }
        return array.toFloatArray();
    }

    @Override
    public long[] toLongs() {
        if (array.getDataType() != DataType.INT64) {
            try (NDArray l = array.toType(DataType.INT64, true)) {
                return l.toLongArray();
            }
        }
        return array.toLongArray();
    }

    @Override
    public String toString() {
        return "Tensor" + array.getShape();
    }
}
