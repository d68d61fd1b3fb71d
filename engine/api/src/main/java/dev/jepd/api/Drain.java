package dev.jepd.api;

import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.util.concurrent.TimeUnit;

/**
 * The gate in front of every route: counts requests in flight and, once draining, answers new ones with 503
 * OpenAI error JSON, {@code Retry-After} and {@code Connection: close} ({@code /health} too, so that a proxy
 * stops routing here; {@code /metrics} stays open for observers). {@link #await} waits for the count to reach 0.
 */
final class Drain implements HttpHandler {
    /** Seconds a client is told to wait before trying again (another node, or this one restarted). */
    static final int RETRY_AFTER_SECONDS = 5;

    private final HttpHandler next;
    private final Object lock = new Object();
    private int active; // guarded by lock
    private final java.util.concurrent.atomic.AtomicLong apiCompleted = new java.util.concurrent.atomic.AtomicLong();
    private volatile boolean draining;

    Drain(HttpHandler next) {
        this.next = next;
    }

    @Override
    public void handleRequest(HttpServerExchange ex) throws Exception {
        if (draining && !ex.getRequestPath().equals("/metrics")) {
            ex.getResponseHeaders().put(Headers.CONNECTION, "close");
            ex.setPersistent(false);
            Errors.send(
                    ex,
                    new ApiException(503, "server is shutting down; retry on another node", null)
                            .withRetryAfter(RETRY_AFTER_SECONDS));
            return;
        }
        synchronized (lock) {
            active++;
        }
        boolean api = ex.getRequestPath().startsWith("/v1/");
        ex.addExchangeCompleteListener((done, nextListener) -> {
            synchronized (lock) {
                active--;
                lock.notifyAll();
            }
            if (api) {
                apiCompleted.incrementAndGet();
            }
            nextListener.proceed();
        });
        next.handleRequest(ex);
    }

    void start() {
        draining = true;
    }

    boolean draining() {
        return draining;
    }

    /** {@code /v1/} requests completed so far (health probes and metrics scrapes are not counted). */
    long apiCompleted() {
        return apiCompleted.get();
    }

    int active() {
        synchronized (lock) {
            return active;
        }
    }

    /** Waits until no request is in flight or {@code millis} pass; true when none is left. */
    boolean await(long millis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        synchronized (lock) {
            while (active > 0) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    return false;
                }
                try {
                    lock.wait(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            return true;
        }
    }
}
