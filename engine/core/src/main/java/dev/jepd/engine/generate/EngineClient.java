package dev.jepd.engine.generate;

/**
 * What a node's routes see of the engine: submit, abort, and a few facts. The thread that steps the engine
 * (and everything it owns) stays behind this, so routes can be tested over a fake.
 */
public interface EngineClient {
    /**
     * Queues a request; its output goes to {@code sink} on the engine thread. Requests that could never run
     * are rejected here with {@link RequestRejectedException}.
     */
    void submit(EngineRequest request, TokenSink sink);

    /** Marks a request aborted (client gone); its blocks are freed at the next step. */
    void abort(String requestId);

    EngineInfo info();

    /** Requests queued but not yet running (the overload bound compares against it). */
    default int numWaiting() {
        return 0;
    }
}
