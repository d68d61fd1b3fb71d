package dev.jepd.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The bulk conversions equal the per-element ones bit for bit, on both paths, at every offset and tail length. */
class BulkFloatsTest {
    private static final float[] SPECIAL = {
        0f,
        -0f,
        Float.NaN,
        Float.intBitsToFloat(0x7FC00001),
        Float.intBitsToFloat(0xFF800001),
        Float.POSITIVE_INFINITY,
        Float.NEGATIVE_INFINITY,
        Float.MIN_VALUE,
        -Float.MIN_NORMAL,
        Float.MAX_VALUE,
        // Ties: 1 + 2^-8 rounds to even (down), 1 + 3·2^-8 to even (up), and one just above a tie.
        Float.intBitsToFloat(0x3F808000),
        Float.intBitsToFloat(0x3F818000),
        Float.intBitsToFloat(0x3F808001),
        65504f,
        65520f,
        1e-8f,
        -3.3895314e38f
    };

    private static float[] values(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = i % 7 == 3
                    ? SPECIAL[r.nextInt(SPECIAL.length)]
                    : r.nextBoolean() ? (float) r.nextGaussian() : Float.intBitsToFloat(r.nextInt());
        }
        return v;
    }

    @Test
    void bulkEqualsPerElementForEveryDtypeLengthAndOffset() {
        try (Arena arena = Arena.ofConfined()) {
            for (DType t : new DType[] {DType.BF16, DType.F16, DType.F32}) {
                for (int n : new int[] {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 8191, 8193, 20_000}) {
                    float[] in = values(n + 5, n * 31L + t.ordinal());
                    int off = n % 3;
                    long to = n % 5;
                    MemorySegment bulk = arena.allocate((n + 5L) * t.byteSize());
                    MemorySegment each = arena.allocate((n + 5L) * t.byteSize());
                    t.setFloats(bulk, to, in, off, n);
                    for (int i = 0; i < n; i++) {
                        t.setFloat(each, to + i, in[off + i]);
                    }
                    assertEquals(-1, bulk.mismatch(each), t + " narrow of " + n);

                    float[] outBulk = new float[n + 4];
                    float[] outEach = new float[n + 4];
                    t.getFloats(each, to, outBulk, 2, n);
                    for (int i = 0; i < n; i++) {
                        outEach[2 + i] = t.getFloat(each, to + i);
                    }
                    assertBitsEqual(outEach, outBulk, t + " widen of " + n);
                }
            }
        }
    }

    @Test
    void scalarAndVectorBf16PathsAgree() {
        try (Arena arena = Arena.ofConfined()) {
            for (int n : new int[] {1, 9, 16, 257, 10_001}) {
                float[] in = values(n, 99 + n);
                MemorySegment scalar = arena.allocate(2L * n);
                MemorySegment bulk = arena.allocate(2L * n);
                BulkFloats.scalarNarrowBf16(in, 0, n, scalar, 0);
                BulkFloats.narrowBf16(in, 0, n, bulk, 0);
                for (int i = 0; i < n; i++) {
                    assertEquals(
                            DType.floatToBf16(in[i]),
                            scalar.getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i),
                            "scalar bf16 of " + in[i]);
                }
                assertEquals(-1, scalar.mismatch(bulk));
                float[] a = new float[n];
                float[] b = new float[n];
                BulkFloats.scalarWidenBf16(scalar, 0, a, 0, n);
                BulkFloats.widenBf16(scalar, 0, b, 0, n);
                assertBitsEqual(a, b, "widen of " + n);
            }
        }
    }

    @Test
    void vectorPathRunsWhereTheModuleIsResolved() {
        // The tests run with --add-modules jdk.incubator.vector (the root pom's argLine), as bin/jepd runs nodes.
        assertTrue(BulkFloats.VECTORS, "the Vector API path should be on in the test JVM");
    }

    @Test
    void rangesOutsideTheSegmentOrArrayAreRefused() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(16); // 8 bf16
            float[] in = new float[8];
            assertThrows(IndexOutOfBoundsException.class, () -> DType.BF16.setFloats(seg, 1, in, 0, 8));
            assertThrows(IndexOutOfBoundsException.class, () -> DType.BF16.getFloats(seg, 0, in, 1, 8));
            assertThrows(UnsupportedOperationException.class, () -> DType.I32.getFloats(seg, 0, in, 0, 1));
        }
    }

    private static void assertBitsEqual(float[] expected, float[] actual, String what) {
        int[] e = new int[expected.length];
        int[] a = new int[actual.length];
        for (int i = 0; i < e.length; i++) {
            e[i] = Float.floatToRawIntBits(expected[i]);
            a[i] = Float.floatToRawIntBits(actual[i]);
        }
        assertArrayEquals(e, a, what);
    }
}
