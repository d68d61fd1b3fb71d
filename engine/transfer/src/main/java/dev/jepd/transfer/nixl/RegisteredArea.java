package dev.jepd.transfer.nixl;

import dev.jepd.ffi.NativeMemory;
import dev.jepd.ffi.nixl.NixlAgent;
import java.lang.foreign.MemorySegment;
import java.util.OptionalLong;

/**
 * One buffer from the C heap, registered with a NIXL agent once, with ranges handed out of it first-fit: the
 * prefill node's staging buffer and the decode node's receive buffer. Registered once so that the agent's
 * metadata never changes, and so that no pull pays for registering and first-touching fresh memory. Must be
 * closed before its agent.
 */
public final class RegisteredArea implements AutoCloseable {
    private final NativeMemory memory;
    private final NixlAgent.Registration registration;
    private final StagingArea ranges;

    public RegisteredArea(NixlAgent agent, long bytes) {
        this.memory = NativeMemory.allocate(bytes);
        try {
            this.registration = agent.registerDram(memory.segment());
        } catch (RuntimeException e) {
            memory.close();
            throw e;
        }
        this.ranges = new StagingArea(bytes);
    }

    /** The offset of a fresh range of at least {@code bytes}, or empty when none is free. */
    public OptionalLong allocate(long bytes) {
        return ranges.allocate(bytes);
    }

    public void free(long offset) {
        ranges.free(offset);
    }

    public MemorySegment slice(long offset, long bytes) {
        return memory.segment().asSlice(offset, bytes);
    }

    /** The address of {@code offset}, as a peer reads it. */
    public long address(long offset) {
        return memory.address() + offset;
    }

    long capacity() {
        return ranges.capacity();
    }

    long usedBytes() {
        return ranges.usedBytes();
    }

    @Override
    public void close() {
        try {
            registration.close();
        } finally {
            memory.close();
        }
    }
}
