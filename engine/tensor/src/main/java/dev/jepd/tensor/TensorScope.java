package dev.jepd.tensor;

/**
 * Owns the native memory of the tensors made while it is the calling thread's current scope. Scopes nest
 * per thread: {@link TensorBackend#scope()} opens a child of the current one and makes it current;
 * {@link #close()} frees everything it still owns. One scope per engine step is the rule; long-lived
 * tensors (weights, the KV cache) live in a scope that is {@link #detach() detached} from the thread and
 * closed with their owner.
 */
public interface TensorScope extends AutoCloseable {
    /** Hands {@code t} to the parent scope, so it outlives this one; returns {@code t}. */
    <T extends Tensor> T keep(T t);

    /** Hands {@code t} to {@code target}, which may be any open scope of the same backend. */
    <T extends Tensor> T moveTo(TensorScope target, T t);

    /**
     * Stops being the thread's current scope without freeing anything: the tensors stay valid until
     * {@link #close()}, which may then be called from any thread.
     */
    TensorScope detach();

    /** Frees every tensor this scope still owns and, if current, restores the parent as current. */
    @Override
    void close();
}
