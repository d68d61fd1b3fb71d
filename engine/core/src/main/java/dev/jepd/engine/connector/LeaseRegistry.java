package dev.jepd.engine.connector;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Things a node holds for a peer under an id, each until the peer says it is done ({@link #release}) or its lease
 * runs out ({@link #expire}), whichever comes first. What "holding" means belongs to the caller: the registry hands
 * back the value that ended, and the caller frees it (the prefill node's KV blocks, a NIXL exporter's staged
 * range). Times are {@link System#nanoTime()} values passed in, so tests need no clock. Thread-safe.
 *
 * @param <T> what is held: anything that must be freed exactly once
 */
public final class LeaseRegistry<T> {
    /** One held value and the time after which it may be freed unconfirmed. */
    public record Lease<T>(String id, T value, long deadline) {}

    private final Map<String, Lease<T>> leases = new LinkedHashMap<>();
    private long released;
    private long expired;

    /**
     * Holds {@code value} under {@code id} until {@code deadline}.
     *
     * @throws IllegalStateException when something is already held under {@code id}
     */
    public synchronized void hold(String id, T value, long deadline) {
        if (leases.containsKey(id)) {
            throw new IllegalStateException("a lease is already held under " + id);
        }
        leases.put(id, new Lease<>(id, value, deadline));
    }

    /** The lease under {@code id}, or null when none is held (never was, released or expired). */
    public synchronized Lease<T> get(String id) {
        return leases.get(id);
    }

    /**
     * Ends the lease under {@code id} because its peer is done; returns the value to free, or null when nothing
     * was held (so a second release of the same id frees nothing).
     */
    public synchronized T release(String id) {
        Lease<T> l = leases.remove(id);
        if (l == null) {
            return null;
        }
        released++;
        return l.value;
    }

    /** Ends every lease whose deadline is at or before {@code now}; returns their values, oldest first, to free. */
    public synchronized List<T> expire(long now) {
        List<T> ended = new ArrayList<>();
        for (Iterator<Lease<T>> it = leases.values().iterator(); it.hasNext(); ) {
            Lease<T> l = it.next();
            if (l.deadline - now <= 0) {
                it.remove();
                ended.add(l.value);
            }
        }
        expired += ended.size();
        return ended;
    }

    /** Leases ended by their peer's release, since start. */
    public synchronized long releasedTotal() {
        return released;
    }

    /** Leases that ran out unreleased, since start. */
    public synchronized long expiredTotal() {
        return expired;
    }

    public synchronized int size() {
        return leases.size();
    }
}
