package dev.jepd.transfer.ec;

import dev.jepd.engine.connector.EcConnector;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The counters every EC connector reports ({@link EcConnector#hits()}, {@code misses}, {@code saves},
 * {@code evictions}), kept in one place: a connector counts into these and reports only what it stores.
 */
public abstract class CountingEcConnector implements EcConnector {
    protected final AtomicLong hits = new AtomicLong();
    protected final AtomicLong misses = new AtomicLong();
    protected final AtomicLong saves = new AtomicLong();
    protected final AtomicLong evictions = new AtomicLong();

    @Override
    public final long hits() {
        return hits.get();
    }

    @Override
    public final long misses() {
        return misses.get();
    }

    @Override
    public final long saves() {
        return saves.get();
    }

    @Override
    public final long evictions() {
        return evictions.get();
    }
}
