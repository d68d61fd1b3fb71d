package dev.jepd.tensor;

/**
 * Owns the native memory of the tensors made through {@link TensorBackend#ops(Scope) its ops}. Scopes
 * nest explicitly: a root from {@link TensorBackend#open()}, children from {@link #child()}; closing a
 * scope frees what it still owns and closes its open children first. One scope per engine step is the
 * rule; long-lived tensors (weights, the KV cache) live in a root scope closed with their owner. A scope
 * is used by one thread at a time; it may be closed from any thread.
 */
public interface Scope extends AutoCloseable {
    /** A new scope nested in this one: closed with it at the latest. */
    Scope child();

    /** Hands {@code t} to the parent scope, so it outlives this one; returns {@code t}. */
    <T extends Tensor> T keep(T t);

    /** Hands {@code t} to {@code target}, which may be any open scope of the same backend. */
    <T extends Tensor> T moveTo(Scope target, T t);

    /** Frees every tensor this scope (and each open child) still owns. Idempotent. */
    @Override
    void close();
}
