package dev.jepd.tensor.torch;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
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

    private static final long PAGE = 4096;

    private static final MethodHandle MPROTECT = Linker.nativeLinker()
            .downcallHandle(
                    Linker.nativeLinker().defaultLookup().find("mprotect").orElseThrow(),
                    FunctionDescriptor.of(
                            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));

    /**
     * {@code bytes} of {@code arena} (a multiple of 2) that end where a page no one may touch begins: a read past
     * them kills the process. {@link #unguard} before the arena closes.
     */
    static MemorySegment guarded(Arena arena, long bytes) {
        long span = (bytes + PAGE - 1) / PAGE * PAGE;
        MemorySegment all = arena.allocate(span + PAGE, PAGE);
        protect(all.asSlice(span, PAGE), 0); // PROT_NONE
        return all.asSlice(span - bytes, bytes);
    }

    /** Gives the page after a {@link #guarded} segment back to reads and writes. */
    static void unguard(MemorySegment guarded) {
        long end = guarded.address() + guarded.byteSize();
        protect(MemorySegment.ofAddress(end).reinterpret(PAGE), 3); // PROT_READ | PROT_WRITE
    }

    private static void protect(MemorySegment page, int prot) {
        try {
            if ((int) MPROTECT.invokeExact(page, PAGE, prot) != 0) {
                throw new IllegalStateException("mprotect failed");
            }
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }
}
