package dev.jepd.engine.safetensors;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Whole-array conversions between the stored floating-point dtypes and Java floats, little-endian. The
 * element coding of each dtype is {@link dev.jepd.tensor.DType}'s; only F64, which no tensor has, is here.
 */
public final class Floats {
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble DOUBLE_LE =
            ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Floats() {}

    /** Widens {@code count} elements of {@code dtype} starting at byte {@code offset} into {@code out}. */
    public static void widen(MemorySegment src, long offset, DType dtype, float[] out, int outOffset, int count) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(src, FLOAT_LE, offset, out, outOffset, count);
            case BF16, F16 ->
                dtype.tensorType()
                        .orElseThrow()
                        .getFloats(src.asSlice(offset, (long) count * dtype.byteSize()), 0, out, outOffset, count);
            case F64 -> {
                for (int i = 0; i < count; i++) {
                    out[outOffset + i] = (float) src.get(DOUBLE_LE, offset + 8L * i);
                }
            }
            case I64, I32, I16, I8, U8, BOOL ->
                throw new SafetensorsException("cannot widen integer dtype " + dtype + " to float");
        }
    }

    /** Encodes floats as {@code dtype} (F32, BF16 or F16) little-endian bytes. */
    public static byte[] encode(float[] values, DType dtype) {
        byte[] out = new byte[values.length * dtype.byteSize()];
        MemorySegment seg = MemorySegment.ofArray(out);
        switch (dtype) {
            case F32 -> MemorySegment.copy(values, 0, seg, FLOAT_LE, 0, values.length);
            case BF16, F16 -> dtype.tensorType().orElseThrow().setFloats(seg, 0, values, 0, values.length);
            case F64, I64, I32, I16, I8, U8, BOOL ->
                throw new UnsupportedOperationException("encode floats as " + dtype);
        }
        return out;
    }
}
