package dev.jepd.engine.safetensors;

import java.lang.foreign.MemorySegment;
import java.util.Set;

/** Named tensors readable as Java arrays: one safetensors file or a sharded checkpoint. */
public interface TensorSource extends AutoCloseable {
    Set<String> names();

    /** The header entry, or {@code null} when the name is absent. */
    TensorInfo info(String name);

    /** Where the tensor lives, for error messages. */
    String location(String name);

    /** The tensor widened to float32 (BF16, F16, F32, F64 stored). */
    float[] readFloats(String name);

    /** An integer tensor (I64, I32, I16, I8, U8, BOOL) as longs. */
    long[] readLongs(String name);

    /** The stored little-endian bytes in place (a slice of the mapping), valid while this source is open. */
    MemorySegment segment(String name);

    /** The raw stored bytes. */
    byte[] readBytes(String name);

    @Override
    void close();
}
