package dev.jepd.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The element type of a {@link Tensor}. Every stored form is row-major little-endian (what safetensors
 * files and {@link TensorBackend#copyOut} use); the element accessors here read and write that form, so a
 * backend needs no conversion code of its own.
 */
public enum DType {
    F32(4),
    BF16(2),
    F16(2),
    I64(8),
    I32(4);

    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE =
            ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    public int byteSize() {
        return byteSize;
    }

    public boolean isFloatingPoint() {
        return switch (this) {
            case F32, BF16, F16 -> true;
            case I64, I32 -> false;
        };
    }

    /** Element {@code i} of {@code seg} (stored as this type) as a float; bf16 and f16 widen exactly. */
    public float getFloat(MemorySegment seg, long i) {
        return switch (this) {
            case F32 -> seg.get(FLOAT_LE, 4 * i);
            case BF16 -> bf16ToFloat(seg.get(SHORT_LE, 2 * i));
            case F16 -> Float.float16ToFloat(seg.get(SHORT_LE, 2 * i));
            case I64 -> seg.get(LONG_LE, 8 * i);
            case I32 -> seg.get(INT_LE, 4 * i);
        };
    }

    /**
     * Stores {@code v} as element {@code i}: bf16 rounds to nearest even (torch's {@code .to(torch.bfloat16)}),
     * f16 as {@link Float#floatToFloat16}, integers truncate toward zero.
     */
    public void setFloat(MemorySegment seg, long i, float v) {
        switch (this) {
            case F32 -> seg.set(FLOAT_LE, 4 * i, v);
            case BF16 -> seg.set(SHORT_LE, 2 * i, floatToBf16(v));
            case F16 -> seg.set(SHORT_LE, 2 * i, Float.floatToFloat16(v));
            case I64 -> seg.set(LONG_LE, 8 * i, (long) v);
            case I32 -> seg.set(INT_LE, 4 * i, (int) v);
        }
    }

    /**
     * Reads {@code count} elements of {@code seg} (stored as this floating-point type) from element {@code from} into
     * {@code out[off..]}, as {@link #getFloat} would one at a time, in one bulk pass.
     */
    public void getFloats(MemorySegment seg, long from, float[] out, int off, int count) {
        switch (this) {
            case F32 -> MemorySegment.copy(seg, FLOAT_LE, 4 * from, out, off, count);
            case BF16 -> BulkFloats.widenBf16(seg, from, out, off, count);
            case F16 -> BulkFloats.widenF16(seg, from, out, off, count);
            case I64, I32 -> throw new UnsupportedOperationException("bulk float read of " + this);
        }
    }

    /**
     * Stores {@code in[off..off+count)} as elements {@code to..} of {@code seg}, rounded as {@link #setFloat} would
     * one at a time, in one bulk pass.
     */
    public void setFloats(MemorySegment seg, long to, float[] in, int off, int count) {
        switch (this) {
            case F32 -> MemorySegment.copy(in, off, seg, FLOAT_LE, 4 * to, count);
            case BF16 -> BulkFloats.narrowBf16(in, off, count, seg, to);
            case F16 -> BulkFloats.narrowF16(in, off, count, seg, to);
            case I64, I32 -> throw new UnsupportedOperationException("bulk float write of " + this);
        }
    }

    /** Element {@code i} as a long; floating-point values truncate toward zero. */
    public long getLong(MemorySegment seg, long i) {
        return switch (this) {
            case I64 -> seg.get(LONG_LE, 8 * i);
            case I32 -> seg.get(INT_LE, 4 * i);
            case F32, BF16, F16 -> (long) getFloat(seg, i);
        };
    }

    /** Stores {@code v} as element {@code i}; I32 keeps the low 32 bits. */
    public void setLong(MemorySegment seg, long i, long v) {
        switch (this) {
            case I64 -> seg.set(LONG_LE, 8 * i, v);
            case I32 -> seg.set(INT_LE, 4 * i, (int) v);
            case F32, BF16, F16 -> setFloat(seg, i, v);
        }
    }

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
        return (short) ((bits + 0x7FFF + lsb) >>> 16);
    }
}
