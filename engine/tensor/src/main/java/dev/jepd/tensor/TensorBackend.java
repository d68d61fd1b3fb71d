package dev.jepd.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Optional;

/**
 * A tensor library on one device. Scopes are explicit: {@link #open()} makes a root scope,
 * {@link Scope#child()} nests one inside another, and {@link #ops(Scope)} gives the ops whose results
 * belong to a scope. Nothing is tied to a thread: whoever holds a scope decides where its tensors go.
 */
public interface TensorBackend extends AutoCloseable {
    String name();

    /** The device every tensor of this backend lives on. */
    Device device();

    /** A new root scope; its tensors live until it is closed. */
    Scope open();

    /** The ops whose results belong to {@code scope} (a scope of this backend). */
    Ops ops(Scope scope);

    /**
     * Writes {@code t}'s elements to {@code dst} row-major, little-endian, in {@code t.dtype()}:
     * {@code t.numel() * t.dtype().byteSize()} bytes from offset 0.
     */
    void copyOut(Tensor t, MemorySegment dst);

    /**
     * The memory that holds {@code t}, when a transport (NIXL) may register it and read or write it in
     * place: row-major, little-endian, {@code t.dtype()}. Empty when the backend keeps no such segment
     * (then copy through {@link #copyOut}).
     */
    Optional<MemorySegment> registrable(Tensor t);

    @Override
    void close();

    /**
     * The floating dtype activations and the KV cache are made in (vLLM's {@code --dtype}): F32 unless the
     * backend computes in another.
     */
    default DType computeType() {
        return DType.F32;
    }

    /**
     * {@code {free, total}} bytes of the backend's device memory now, where the backend can tell (an
     * accelerator); empty for host memory, which the operator sizes with {@code --kv-cache-memory-bytes}.
     */
    default Optional<long[]> deviceMemory() {
        return Optional.empty();
    }

    /**
     * Waits until every op issued so far has finished. A no-op on host backends, whose ops return done; an
     * accelerator queues its kernels, so a timer must call this before it reads the clock.
     */
    default void synchronize() {}

    /**
     * Makes the backend's own kernels ready (compiled, initialised) and returns when they are: a benchmark calls it
     * before its clock starts. A no-op where there is nothing to prepare; a backend may also do this in the
     * background on its own, as the libtorch one does when a bf16 model loads.
     */
    default void warmUp() {}
}
