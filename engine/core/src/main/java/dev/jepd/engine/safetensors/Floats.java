package dev.jepd.engine.safetensors;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Conversions between the stored floating-point dtypes and Java floats. All little-endian. */
public final class Floats {
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble DOUBLE_LE =
            ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Floats() {}

    /** bf16 is the top half of an f32: widening is exact. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** f32 to bf16 with round-to-nearest-even (what torch's {@code .to(torch.bfloat16)} does); NaN stays NaN. */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int lsb = (bits >>> 16) & 1;
        int rounded = bits + 0x7FFF + lsb;
        return (short) (rounded >>> 16);
    }

    /** Widens {@code count} elements of {@code dtype} starting at byte {@code offset} into {@code out}. */
    public static void widen(MemorySegment src, long offset, DType dtype, float[] out, int outOffset, int count) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(src, FLOAT_LE, offset, out, outOffset, count);
            case BF16 -> {
                for (int i = 0; i < count; i++) {
                    out[outOffset + i] = bf16ToFloat(src.get(SHORT_LE, offset + 2L * i));
                }
            }
            case F16 -> {
                for (int i = 0; i < count; i++) {
                    out[outOffset + i] = Float.float16ToFloat(src.get(SHORT_LE, offset + 2L * i));
                }
            }
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
            case BF16 -> {
                for (int i = 0; i < values.length; i++) {
                    seg.set(SHORT_LE, 2L * i, floatToBf16(values[i]));
                }
            }
            case F16 -> {
                for (int i = 0; i < values.length; i++) {
                    seg.set(SHORT_LE, 2L * i, Float.floatToFloat16(values[i]));
                }
            }
            case F64, I64, I32, I16, I8, U8, BOOL ->
                throw new UnsupportedOperationException("encode floats as " + dtype);
        }
        return out;
    }
}
