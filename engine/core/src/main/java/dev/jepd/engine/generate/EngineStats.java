package dev.jepd.engine.generate;

/** Counters of one engine, read by metrics and tests; written only by the engine thread. */
public final class EngineStats {
    volatile long steps;
    volatile long tokens;
    volatile long finished;
    volatile long preemptions;
    volatile long aborted;
    volatile long remoteKvTokens;

    public long steps() {
        return steps;
    }

    public long tokens() {
        return tokens;
    }

    public long finished() {
        return finished;
    }

    public long preemptions() {
        return preemptions;
    }

    public long aborted() {
        return aborted;
    }

    /** Prompt tokens whose KV was loaded from a prefill node instead of computed here. */
    public long remoteKvTokens() {
        return remoteKvTokens;
    }
}
