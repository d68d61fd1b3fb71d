package dev.jepd.engine.generate;

/** Counters of one engine, read by metrics and tests; written only by the engine thread. */
public final class EngineStats {
    volatile long steps;
    volatile long tokens;
    volatile long finished;
    volatile long preemptions;
    volatile long aborted;

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
}
