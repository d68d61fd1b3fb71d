package dev.jepd.ffi;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * A block of memory from the C heap ({@code malloc}), for buffers a native library registers or fills. Unlike an
 * {@link java.lang.foreign.Arena} allocation it is not zeroed, so a large staging buffer costs address space,
 * not resident pages, until it is written. Freed exactly once, by {@link #close()}.
 */
public final class NativeMemory implements AutoCloseable {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle MALLOC = LINKER.downcallHandle(
            LINKER.defaultLookup().findOrThrow("malloc"),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle FREE = LINKER.downcallHandle(
            LINKER.defaultLookup().findOrThrow("free"), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));

    private final MemorySegment segment;
    private boolean freed;

    private NativeMemory(MemorySegment segment) {
        this.segment = segment;
    }

    /** {@code bytes} bytes, uninitialised. */
    public static NativeMemory allocate(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("native allocation of " + bytes + " bytes");
        }
        MemorySegment p;
        try {
            p = (MemorySegment) MALLOC.invokeExact(bytes);
        } catch (Throwable t) {
            throw new IllegalStateException("malloc failed", t);
        }
        if (p.equals(MemorySegment.NULL)) {
            throw new OutOfMemoryError("malloc of " + bytes + " bytes failed");
        }
        return new NativeMemory(p.reinterpret(bytes));
    }

    public MemorySegment segment() {
        if (freed) {
            throw new IllegalStateException("native memory used after it was freed");
        }
        return segment;
    }

    public long address() {
        return segment().address();
    }

    public long size() {
        return segment.byteSize();
    }

    /** Frees memory a native library allocated with {@code malloc} and handed over. */
    public static void free(MemorySegment p) {
        try {
            FREE.invokeExact(p);
        } catch (Throwable t) {
            throw new IllegalStateException("free failed", t);
        }
    }

    @Override
    public synchronized void close() {
        if (!freed) {
            freed = true;
            free(segment);
        }
    }
}
