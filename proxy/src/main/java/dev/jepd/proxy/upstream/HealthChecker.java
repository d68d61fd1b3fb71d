package dev.jepd.proxy.upstream;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The active health check: every {@code interval}, every member of every cluster is asked for
 * {@code /health} at once (each probe bounded by the interval, at least 2 s). {@code failuresToEvict} failed
 * probes in a row evict a node, one draining answer (503 and {@code Connection: close}) at once; one 2xx answer
 * re-admits it. Requests evict a node on their own as soon as
 * they cannot reach it, so the probes mostly bring nodes back. Housekeeping that should run on the same beat
 * (dedup sweeps, {@code --config} reloads) is passed in as {@code chores}.
 */
public final class HealthChecker implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HealthChecker.class);

    private static final String DRAINING = "/health answered HTTP 503 and closed: the node is draining";

    private final List<Cluster> clusters;
    private final UpstreamClient client;
    private final Duration interval;
    private final Duration probeLimit;
    private final int failuresToEvict;
    private final List<Runnable> chores;
    private final Thread thread;
    private volatile boolean running = true;

    public HealthChecker(
            List<Cluster> clusters,
            UpstreamClient client,
            Duration interval,
            int failuresToEvict,
            List<Runnable> chores) {
        this.clusters = List.copyOf(clusters);
        this.client = client;
        this.interval = interval;
        // A busy node answers /health late, not never: a short beat must not make probes give up early.
        this.probeLimit = interval.compareTo(Duration.ofSeconds(2)) > 0 ? interval : Duration.ofSeconds(2);
        this.failuresToEvict = failuresToEvict;
        this.chores = List.copyOf(chores);
        this.thread = Thread.ofPlatform().daemon().name("jepd-proxy-health").unstarted(this::loop);
    }

    public HealthChecker start() {
        thread.start();
        return this;
    }

    /** One beat after another, the first one interval after the start (requests evict dead nodes before). */
    private void loop() {
        long started = System.nanoTime();
        while (running) {
            long sleep = interval.toNanos() - (System.nanoTime() - started);
            try {
                if (sleep > 0) {
                    TimeUnit.NANOSECONDS.sleep(sleep);
                }
            } catch (InterruptedException e) {
                return;
            }
            started = System.nanoTime();
            try {
                probeAll();
                for (Runnable chore : chores) {
                    chore.run();
                }
            } catch (RuntimeException e) {
                LOG.warn("health check round failed", e);
            }
        }
    }

    /** One round: all probes at once, then each member updated. */
    public void probeAll() {
        List<Map.Entry<Member, CompletableFuture<Reply>>> probes = new ArrayList<>();
        for (Cluster c : clusters) {
            for (Member m : c.members()) {
                probes.add(Map.entry(m, client.getAsync(m.node(), "/health", Map.of(), probeLimit)));
            }
        }
        for (var p : probes) {
            Member m = p.getKey();
            boolean wasHealthy = m.healthy();
            String failure;
            try {
                Reply r = p.getValue().get(probeLimit.toMillis() + 500, TimeUnit.MILLISECONDS);
                failure = r.statusCode() / 100 == 2
                        ? null
                        : r.statusCode() == 503 && r.closing() ? DRAINING : "/health answered HTTP " + r.statusCode();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (Exception e) {
                p.getValue().cancel(true);
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                failure = "/health failed: " + cause.getClass().getSimpleName()
                        + (cause.getMessage() != null ? " " + cause.getMessage() : "");
            }
            if (failure == null) {
                m.probeSucceeded();
                if (!wasHealthy) {
                    LOG.info("{} answers again: re-admitted", m.node());
                }
            } else if (failure.equals(DRAINING)) {
                m.evict(failure); // the node says it is going: no need to wait for more failed probes
            } else {
                m.probeFailed(failure, failuresToEvict); // logs the eviction
            }
        }
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
    }
}
