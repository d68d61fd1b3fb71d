package dev.jepd.proxy.upstream;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One node of a cluster and what the proxy knows of it now: whether it is routable (healthy), the cost it
 * has in flight (for least-loaded routing), and why it was last evicted. A request that cannot reach it
 * (refused, reset, timed out) evicts it at once; the active health check ({@link HealthChecker}) evicts it
 * after failed probes and re-admits it as soon as its {@code /health} answers 2xx again.
 */
public final class Member {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Member.class);

    private final Node node;
    private final AtomicLong inFlight = new AtomicLong();
    private final AtomicInteger failedProbes = new AtomicInteger();
    private volatile boolean healthy = true;
    private volatile String lastError;
    private volatile long changedAtMillis = System.currentTimeMillis();

    Member(Node node) {
        this.node = node;
    }

    public Node node() {
        return node;
    }

    public boolean healthy() {
        return healthy;
    }

    public long inFlight() {
        return inFlight.get();
    }

    /** Why it was last evicted, or null if it never was. */
    public String lastError() {
        return lastError;
    }

    public long changedAtMillis() {
        return changedAtMillis;
    }

    void charge(long cost) {
        inFlight.addAndGet(cost);
    }

    /** A request to this node failed below HTTP: no more requests go to it until a probe answers. */
    public void evict(String why) {
        lastError = why;
        if (healthy) {
            healthy = false;
            changedAtMillis = System.currentTimeMillis();
            LOG.warn("{} evicted: {}", node, why);
        }
    }

    /** A probe answered 2xx: the node is routable again. */
    void probeSucceeded() {
        failedProbes.set(0);
        if (!healthy) {
            healthy = true;
            changedAtMillis = System.currentTimeMillis();
        }
    }

    /** A probe failed; {@code limit} failures in a row evict. */
    void probeFailed(String why, int limit) {
        if (failedProbes.incrementAndGet() >= limit) {
            evict(why);
        }
    }

    @Override
    public String toString() {
        return node + (healthy ? "" : " (evicted: " + lastError + ")");
    }
}
