package dev.jepd.proxy.upstream;

import java.io.EOFException;
import java.io.IOException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The one HTTP client of the proxy, shared by every request and every cluster: HTTP/1.1 over pooled keep-alive
 * connections ({@link ConnectionPool}), each request written and its answer read on the calling thread (a route's
 * worker thread, or a virtual thread for the calls a request makes at once). A short connect time-out so that a
 * dead node fails fast; {@link #timeout()} bounds each wait for an answer, and for a stream each silence between
 * two reads. A request written into a kept-alive connection that the node had closed meanwhile (nothing read
 * back) is sent again on a new connection, as browsers and Go's client do. Every failure becomes an
 * {@link dev.jepd.api.ApiException} (see {@link UpstreamFailure}).
 *
 * <p>Why not {@code java.net.http.HttpClient}: measured in docs/PERF.md, its selector thread and the hand-off of
 * every answer (and every chunk of a stream) to another thread cost more than the whole relay.
 *
 * <p>Why blocking reads: the requests that run on a worker thread (E+P+D, remote images, a request alone in the
 * proxy, the health probes and the admin routes) might as well wait for their upstream answer themselves. E+PD
 * requests under load run on the IO thread instead, through {@link AsyncUpstream}; docs/PERF.md measures both.
 */
public final class UpstreamClient implements AutoCloseable {
    /** How much of a failed answer is read for the error message. */
    private static final int ERROR_BODY_BYTES = 64 * 1024;
    /** Largest whole answer read into memory (a chat completion is a few kB; a stream is not read whole). */
    private static final int MAX_ANSWER_BYTES = 256 << 20;

    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final ConnectionPool pool;
    private final Duration timeout;

    public UpstreamClient(Duration connectTimeout, Duration timeout) {
        this.timeout = timeout;
        this.pool = new ConnectionPool(connectTimeout);
    }

    /** {@code --upstream-timeout}: the longest wait for an answer, or between two reads of a stream. */
    public Duration timeout() {
        return timeout;
    }

    /** The answer to one request, read whole; {@code json} null for a GET. Transport failures are thrown. */
    public Reply exchange(Node node, String path, byte[] json, Map<String, String> headers, Duration limit)
            throws IOException {
        return exchange(node, path, json, headers, limit, ClientWatch.NONE);
    }

    /**
     * As above, for a client's request: while no answer comes its client is watched, and once the client is gone
     * the connection is closed (the node aborts) and {@link ClientWatch.Gone} thrown.
     */
    public Reply exchange(
            Node node, String path, byte[] json, Map<String, String> headers, Duration limit, ClientWatch watch)
            throws IOException {
        String method = json == null ? "GET" : "POST";
        watch.throwIfCancelled();
        Http1Connection c = pool.idle(node);
        boolean fresh = c == null;
        if (fresh) {
            c = pool.open(node);
        }
        watch.attach(c);
        try {
            return exchangeOn(c, node, method, path, json, headers, limit, watch);
        } catch (EOFException | SocketException e) {
            c.close();
            watch.throwIfCancelled();
            if (fresh || !c.reused) {
                throw e;
            }
            // A kept-alive connection the node had closed: nothing was answered, so nothing ran twice.
            watch.detach(c);
            Http1Connection retry = pool.open(node);
            watch.attach(retry);
            c = retry;
            try {
                return exchangeOn(retry, node, method, path, json, headers, limit, watch);
            } catch (IOException | RuntimeException again) {
                retry.close();
                watch.throwIfCancelled();
                throw again;
            }
        } catch (IOException | RuntimeException e) {
            c.close();
            watch.throwIfCancelled();
            throw e;
        } finally {
            watch.detach(c);
        }
    }

    private Reply exchangeOn(
            Http1Connection c,
            Node node,
            String method,
            String path,
            byte[] json,
            Map<String, String> headers,
            Duration limit,
            ClientWatch watch)
            throws IOException {
        c.timeout(limit.toMillis());
        c.send(method, path, headers, json);
        Http1Connection.Head head;
        try {
            c.awaitReadable(limit.toMillis(), watch);
            head = c.readHead();
        } catch (SocketTimeoutException e) {
            throw new HttpTimeoutException("no answer within " + UpstreamFailure.seconds(limit));
        }
        Http1Connection.Body body = c.body(head, method);
        byte[] bytes;
        try {
            bytes = body.readAll(head.status() / 100 == 2 ? MAX_ANSWER_BYTES : ERROR_BODY_BYTES * 16);
        } catch (SocketTimeoutException e) {
            throw new HttpTimeoutException("the answer stopped for " + UpstreamFailure.seconds(limit));
        }
        if (body.complete()) {
            watch.detach(c);
            pool.release(c, node);
        } else {
            c.close();
        }
        return new Reply(head.status(), head.contentType(), bytes, head.close());
    }

    /** Starts a JSON POST on a virtual thread; the future completes with the answer or the transport failure. */
    public CompletableFuture<Reply> postAsync(Node node, String path, byte[] json, Map<String, String> headers) {
        return async(node, path, json, headers, timeout);
    }

    /** Starts a GET with its own time-out (health probes use a shorter one). */
    public CompletableFuture<Reply> getAsync(Node node, String path, Map<String, String> headers, Duration limit) {
        return async(node, path, null, headers, limit);
    }

    private CompletableFuture<Reply> async(
            Node node, String path, byte[] json, Map<String, String> headers, Duration limit) {
        return CompletableFuture.supplyAsync(
                () -> {
                    try {
                        return exchange(node, path, json, headers, limit);
                    } catch (IOException e) {
                        throw new CompletionException(e);
                    }
                },
                executor);
    }

    /** A JSON POST answered 2xx within the time-out, or the {@code ApiException} the client should see. */
    public UpstreamResponse post(Node node, String path, byte[] json, Map<String, String> headers) {
        return post(node, path, json, headers, ClientWatch.NONE);
    }

    /** As above, cut with {@link ClientWatch.Gone} as soon as the client of the request is gone. */
    public UpstreamResponse post(Node node, String path, byte[] json, Map<String, String> headers, ClientWatch watch) {
        try {
            return expect2xx(node, exchange(node, path, json, headers, timeout, watch));
        } catch (IOException e) {
            throw UpstreamFailure.transport(node, e, timeout);
        }
    }

    /** A GET answered 2xx within the time-out, or the {@code ApiException} the client should see. */
    public UpstreamResponse get(Node node, String path, Map<String, String> headers) {
        try {
            return expect2xx(node, exchange(node, path, null, headers, timeout));
        } catch (IOException e) {
            throw UpstreamFailure.transport(node, e, timeout);
        }
    }

    /**
     * A JSON POST whose 2xx answer is streamed: returns once the status, the headers and the first bytes of
     * the body arrived (each within the time-out), so that a failure before the first byte can still be retried
     * on another node; the body is left for {@link UpstreamStream#relayTo}. A non-2xx answer is read (bounded)
     * and thrown as the client's error.
     */
    public UpstreamStream postStreaming(Node node, String path, byte[] json, Map<String, String> headers) {
        return postStreaming(node, path, json, headers, ClientWatch.NONE);
    }

    /**
     * As above for a client's request: its client is watched until the stream is handed over (and by
     * {@link UpstreamStream#relayTo} after), and {@link ClientWatch.Gone} thrown once it is gone.
     */
    public UpstreamStream postStreaming(
            Node node, String path, byte[] json, Map<String, String> headers, ClientWatch watch) {
        watch.throwIfCancelled();
        Http1Connection c = null;
        try {
            c = pool.idle(node);
            boolean fresh = c == null;
            if (fresh) {
                c = pool.open(node);
            }
            watch.attach(c);
            Http1Connection.Head head;
            try {
                c.timeout(timeout.toMillis());
                c.send("POST", path, headers, json);
                c.awaitReadable(timeout.toMillis(), watch);
                head = c.readHead();
            } catch (EOFException | SocketException e) {
                watch.throwIfCancelled();
                if (fresh || !c.reused) {
                    throw e;
                }
                watch.detach(c);
                c.close(); // a kept-alive connection the node had closed: send again on a new one
                c = pool.open(node);
                watch.attach(c);
                c.timeout(timeout.toMillis());
                c.send("POST", path, headers, json);
                c.awaitReadable(timeout.toMillis(), watch);
                head = c.readHead();
            }
            Http1Connection.Body body = c.body(head, "POST");
            if (head.status() / 100 != 2) {
                byte[] error;
                try {
                    error = body.readAll(ERROR_BODY_BYTES);
                } catch (IOException e) {
                    error = new byte[0];
                }
                throw UpstreamFailure.status(node, head.status(), error, head.close());
            }
            // Nothing has reached the client yet: a node that fails before its first byte can be retried elsewhere.
            byte[] first = new byte[16 * 1024];
            if (!body.atEnd()) {
                c.awaitReadable(timeout.toMillis(), watch);
            }
            int n = body.read(first, 0, first.length);
            UpstreamStream s = new UpstreamStream(
                    node, head.status(), head.contentType(), c, body, pool, timeout, first, Math.max(n, 0), watch);
            c = null;
            return s;
        } catch (SocketTimeoutException e) {
            watch.throwIfCancelled();
            throw UpstreamFailure.timeout(node, timeout);
        } catch (IOException e) {
            watch.throwIfCancelled();
            throw UpstreamFailure.transport(node, e, timeout);
        } finally {
            if (c != null) {
                watch.detach(c);
                c.close();
            }
        }
    }

    /**
     * Waits for {@code future} at most {@code limit}; on time-out cancels it and throws a 504, on failure throws
     * what {@link UpstreamFailure#transport} makes of it.
     */
    public static <T> T await(Node node, CompletableFuture<T> future, Duration limit) {
        try {
            return future.get(limit.toNanos() + TimeUnit.MILLISECONDS.toNanos(500), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            future.cancel(true);
            throw UpstreamFailure.timeout(node, limit);
        } catch (ExecutionException e) {
            throw UpstreamFailure.transport(node, e.getCause(), limit);
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw UpstreamFailure.transport(node, e, limit);
        }
    }

    /** The answer if it is 2xx, else the client's error. */
    public static UpstreamResponse expect2xx(Node node, Reply r) {
        if (r.statusCode() / 100 != 2) {
            throw UpstreamFailure.status(node, r.statusCode(), r.body(), r.closing());
        }
        return new UpstreamResponse(node, r.statusCode(), r.contentType(), r.body());
    }

    @Override
    public void close() {
        pool.close();
        executor.shutdownNow();
    }
}
