package dev.jepd.tensor.torch;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/** bf16 operands for the kernels' tests: uniform in {@code (-range, range)}, rounded as torch rounds. */
final class Bf16TestData {
    private Bf16TestData() {}

    /** {@code n} bf16 values in a 64-byte-aligned segment of {@code arena}. */
    static MemorySegment random(Arena arena, Random random, long n, float range) {
        MemorySegment m = arena.allocate(2 * n, 64);
        for (long i = 0; i < n; i++) {
            m.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Bf16MatVec.narrow((random.nextFloat() * 2 - 1) * range));
        }
        return m;
    }
}
