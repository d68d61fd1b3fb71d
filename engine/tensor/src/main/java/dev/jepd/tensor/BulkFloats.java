package dev.jepd.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Whole-array conversions between stored bf16/f16 and Java floats, behind {@link DType#getFloats} and
 * {@link DType#setFloats}: an encoder-cache item is millions of elements, and one {@code MemorySegment} access per
 * element costs about ten times a bulk loop. bf16 runs in the Vector API where the JVM has it ({@code --add-modules
 * jdk.incubator.vector}, as bin/jepd starts a model-running JVM), else in chunks through a {@code short[]} that
 * the JIT can vectorise; both give exactly {@link DType#bf16ToFloat} and {@link DType#floatToBf16} per element.
 */
final class BulkFloats {
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Elements per chunk of the scalar path: a 16 KiB {@code short[]} stays in L1. */
    private static final int CHUNK = 8192;

    /**
     * Whether the Vector API path runs: the module is resolved and its preferred species suit. Read here, not in
     * {@link Vectors}, so that a JVM without the module never links that class ({@code -Djepd.bulkFloats.scalar=true}
     * turns it off, for tests of the scalar path).
     */
    static final boolean VECTORS = !Boolean.getBoolean("jepd.bulkFloats.scalar")
            && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && Vectors.usable();

    private BulkFloats() {}

    /** Widens {@code count} bf16 elements of {@code src} from element {@code from} into {@code out[off..]}. */
    static void widenBf16(MemorySegment src, long from, float[] out, int off, int count) {
        checkRange(src, from, out.length, off, count);
        if (VECTORS) {
            Vectors.widenBf16(src, 2 * from, out, off, count);
        } else {
            scalarWidenBf16(src, from, out, off, count);
        }
    }

    static void scalarWidenBf16(MemorySegment src, long from, float[] out, int off, int count) {
        short[] buf = new short[Math.min(CHUNK, count)];
        for (int done = 0; done < count; done += buf.length) {
            int n = Math.min(buf.length, count - done);
            MemorySegment.copy(src, SHORT_LE, 2 * (from + done), buf, 0, n);
            for (int i = 0; i < n; i++) {
                out[off + done + i] = Float.intBitsToFloat(buf[i] << 16);
            }
        }
    }

    /** Rounds {@code in[off..off+count)} to bf16 (nearest even, NaN kept) into {@code dst} from element {@code to}. */
    static void narrowBf16(float[] in, int off, int count, MemorySegment dst, long to) {
        checkRange(dst, to, in.length, off, count);
        if (VECTORS) {
            Vectors.narrowBf16(in, off, count, dst, 2 * to);
        } else {
            scalarNarrowBf16(in, off, count, dst, to);
        }
    }

    static void scalarNarrowBf16(float[] in, int off, int count, MemorySegment dst, long to) {
        short[] buf = new short[Math.min(CHUNK, count)];
        for (int done = 0; done < count; done += buf.length) {
            int n = Math.min(buf.length, count - done);
            for (int i = 0; i < n; i++) {
                buf[i] = bf16(Float.floatToRawIntBits(in[off + done + i]));
            }
            MemorySegment.copy(buf, 0, dst, SHORT_LE, 2 * (to + done), n);
        }
    }

    /** Widens {@code count} f16 elements ({@link Float#float16ToFloat}, an intrinsic the JIT vectorises). */
    static void widenF16(MemorySegment src, long from, float[] out, int off, int count) {
        checkRange(src, from, out.length, off, count);
        short[] buf = new short[Math.min(CHUNK, count)];
        for (int done = 0; done < count; done += buf.length) {
            int n = Math.min(buf.length, count - done);
            MemorySegment.copy(src, SHORT_LE, 2 * (from + done), buf, 0, n);
            for (int i = 0; i < n; i++) {
                out[off + done + i] = Float.float16ToFloat(buf[i]);
            }
        }
    }

    /** Rounds to f16 ({@link Float#floatToFloat16}). */
    static void narrowF16(float[] in, int off, int count, MemorySegment dst, long to) {
        checkRange(dst, to, in.length, off, count);
        short[] buf = new short[Math.min(CHUNK, count)];
        for (int done = 0; done < count; done += buf.length) {
            int n = Math.min(buf.length, count - done);
            for (int i = 0; i < n; i++) {
                buf[i] = Float.floatToFloat16(in[off + done + i]);
            }
            MemorySegment.copy(buf, 0, dst, SHORT_LE, 2 * (to + done), n);
        }
    }

    /** {@link DType#floatToBf16} without its branch, so that the loops around it vectorise. */
    static short bf16(int bits) {
        int rounded = (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16;
        int quietNan = (bits >>> 16) | 0x40;
        return (short) ((bits & 0x7FFFFFFF) > 0x7F800000 ? quietNan : rounded);
    }

    private static void checkRange(MemorySegment seg, long element, int arrayLength, int off, int count) {
        java.util.Objects.checkFromIndexSize(off, count, arrayLength);
        java.util.Objects.checkFromIndexSize(2 * element, 2L * count, seg.byteSize());
    }

    /** The Vector API path: a class of its own, linked only once {@link #VECTORS} found the module. */
    static final class Vectors {
        private Vectors() {}

        static boolean usable() {
            try {
                return Species.F.length() >= 4
                        && Species.I.length() == Species.F.length()
                        && Species.S.length() == Species.F.length();
            } catch (LinkageError | IllegalArgumentException e) {
                return false;
            }
        }

        static void widenBf16(MemorySegment src, long byteOffset, float[] out, int off, int count) {
            int lanes = Species.F.length();
            int i = 0;
            for (; i <= count - lanes; i += lanes) {
                ShortVector s =
                        ShortVector.fromMemorySegment(Species.S, src, byteOffset + 2L * i, ByteOrder.LITTLE_ENDIAN);
                ((IntVector) s.convertShape(VectorOperators.S2I, Species.I, 0))
                        .lanewise(VectorOperators.LSHL, 16)
                        .reinterpretAsFloats()
                        .intoArray(out, off + i);
            }
            for (; i < count; i++) {
                out[off + i] = Float.intBitsToFloat(src.get(SHORT_LE, byteOffset + 2L * i) << 16);
            }
        }

        static void narrowBf16(float[] in, int off, int count, MemorySegment dst, long byteOffset) {
            int lanes = Species.F.length();
            int i = 0;
            for (; i <= count - lanes; i += lanes) {
                IntVector bits = FloatVector.fromArray(Species.F, in, off + i).reinterpretAsInts();
                IntVector high = bits.lanewise(VectorOperators.LSHR, 16);
                IntVector rounded = bits.add(0x7FFF).add(high.and(1)).lanewise(VectorOperators.LSHR, 16);
                VectorMask<Integer> nan = bits.and(0x7FFFFFFF).compare(VectorOperators.GT, 0x7F800000);
                ((ShortVector) rounded.blend(high.or(0x40), nan).convertShape(VectorOperators.I2S, Species.S, 0))
                        .intoMemorySegment(dst, byteOffset + 2L * i, ByteOrder.LITTLE_ENDIAN);
            }
            for (; i < count; i++) {
                dst.set(SHORT_LE, byteOffset + 2L * i, bf16(Float.floatToRawIntBits(in[off + i])));
            }
        }
    }

    /** The species, loaded only once the module is known to be there. */
    private static final class Species {
        static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
        static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
        /** Half the bits: as many shorts as the float species has lanes. */
        static final VectorSpecies<Short> S =
                VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));

        private Species() {}
    }
}
