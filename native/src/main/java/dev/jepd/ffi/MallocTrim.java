package dev.jepd.ffi;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * glibc's {@code malloc_trim(0)} through {@link java.lang.foreign}: returns the free pages at the top of every
 * malloc arena to the OS and {@code madvise}s away the free pages inside them. A node calls it once idle after a
 * burst (docs/RELIABILITY.md, "Memory after a burst"). Where the symbol is absent (not glibc) it does nothing.
 */
public final class MallocTrim {
    private static final MethodHandle MALLOC_TRIM = lookup();

    private MallocTrim() {}

    /** Whether glibc's {@code malloc_trim} was found. */
    public static boolean available() {
        return MALLOC_TRIM != null;
    }

    /** {@code malloc_trim(0)}; true when memory was released, false when none was or it is absent. */
    public static boolean trim() {
        if (MALLOC_TRIM == null) {
            return false;
        }
        try {
            return (int) MALLOC_TRIM.invokeExact(0L) != 0;
        } catch (Throwable t) {
            return false;
        }
    }

    /** A full collection first (cleaners free unreachable native buffers, the heap may shrink), then the trim. */
    public static void gcAndTrim() {
        System.gc();
        trim();
    }

    private static MethodHandle lookup() {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup()
                    .find("malloc_trim")
                    .map(s -> linker.downcallHandle(
                            s, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG)))
                    .orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null; // no native access, or not glibc
        }
    }
}
