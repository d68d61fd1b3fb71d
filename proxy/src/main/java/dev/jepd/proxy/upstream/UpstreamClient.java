package dev.jepd.proxy.upstream;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The one HTTP client of the proxy, shared by every request and every cluster (pooled keep-alive
 * connections). HTTP/1.1 as the nodes speak it; a short connect time-out so that a dead node fails fast;
 * {@link #timeout()} bounds each wait for an answer, and for a stream each silence between two reads.
 * Every wait here ends within its limit: on time-out the request is cancelled and the failure becomes an
 * {@link dev.jepd.api.ApiException} (see {@link UpstreamFailure}).
 */
public final class UpstreamClient implements AutoCloseable {
    /** How much of a failed streaming answer is read for the error message. */
    private static final int ERROR_BODY_BYTES = 64 * 1024;

    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final HttpClient http;
    private final Duration timeout;

    public UpstreamClient(Duration connectTimeout, Duration timeout) {
        this.timeout = timeout;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NEVER)
                .executor(executor)
                .build();
    }

    /** {@code --upstream-timeout}: the longest wait for an answer, or between two reads of a stream. */
    public Duration timeout() {
        return timeout;
    }

    /** Starts a JSON POST; the future completes with the whole answer or fails with the transport error. */
    public CompletableFuture<HttpResponse<byte[]>> postAsync(
            Node node, String path, byte[] json, Map<String, String> headers) {
        return http.sendAsync(post(node, path, json, headers, timeout), HttpResponse.BodyHandlers.ofByteArray());
    }

    /** Starts a GET with its own time-out (health probes use a shorter one). */
    public CompletableFuture<HttpResponse<byte[]>> getAsync(
            Node node, String path, Map<String, String> headers, Duration limit) {
        HttpRequest.Builder b =
                HttpRequest.newBuilder(node.uri(path)).timeout(limit).GET();
        headers.forEach(b::header);
        return http.sendAsync(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    /** A JSON POST answered 2xx within the time-out, or the {@code ApiException} the client should see. */
    public UpstreamResponse post(Node node, String path, byte[] json, Map<String, String> headers) {
        return expect2xx(node, await(node, postAsync(node, path, json, headers), timeout));
    }

    /** A GET answered 2xx within the time-out, or the {@code ApiException} the client should see. */
    public UpstreamResponse get(Node node, String path, Map<String, String> headers) {
        return expect2xx(node, await(node, getAsync(node, path, headers, timeout), timeout));
    }

    /**
     * A JSON POST whose 2xx answer is streamed: returns once the status, the headers and the first bytes of
     * the body arrived (each within the time-out), so that a failure before the first byte can still be retried
     * on another node; the body is left for {@link UpstreamStream#relayTo}. A non-2xx answer is read (bounded)
     * and thrown as the client's error.
     */
    public UpstreamStream postStreaming(Node node, String path, byte[] json, Map<String, String> headers) {
        CompletableFuture<HttpResponse<Flow.Publisher<List<ByteBuffer>>>> sent =
                http.sendAsync(post(node, path, json, headers, timeout), HttpResponse.BodyHandlers.ofPublisher());
        HttpResponse<Flow.Publisher<List<ByteBuffer>>> response = await(node, sent, timeout);
        BodyRelay relay = new BodyRelay();
        response.body().subscribe(relay);
        int status = response.statusCode();
        if (status / 100 != 2) {
            throw UpstreamFailure.status(node, status, UpstreamStream.drain(relay, ERROR_BODY_BYTES, timeout));
        }
        // Nothing has reached the client yet: a node that fails before its first byte can be retried elsewhere.
        Object first;
        try {
            first = relay.poll(timeout.toNanos());
        } catch (InterruptedException e) {
            relay.cancel();
            Thread.currentThread().interrupt();
            throw UpstreamFailure.transport(node, e, timeout);
        }
        if (first == null) {
            relay.cancel();
            throw UpstreamFailure.timeout(node, timeout);
        }
        if (first instanceof Throwable t) {
            relay.cancel();
            throw UpstreamFailure.transport(node, t, timeout);
        }
        String type = response.headers().firstValue("Content-Type").orElse(null);
        return new UpstreamStream(node, status, type, relay, timeout, first);
    }

    /**
     * Waits for {@code future} at most {@code limit}; on time-out cancels it (which aborts the exchange)
     * and throws a 504, on failure throws what {@link UpstreamFailure#transport} makes of it.
     */
    public static <T> T await(Node node, CompletableFuture<T> future, Duration limit) {
        try {
            return future.get(limit.toNanos(), TimeUnit.NANOSECONDS);
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
    public static UpstreamResponse expect2xx(Node node, HttpResponse<byte[]> r) {
        if (r.statusCode() / 100 != 2) {
            throw UpstreamFailure.status(node, r.statusCode(), r.body());
        }
        return new UpstreamResponse(
                node, r.statusCode(), r.headers().firstValue("Content-Type").orElse(null), r.body());
    }

    private static HttpRequest post(Node node, String path, byte[] json, Map<String, String> headers, Duration t) {
        HttpRequest.Builder b = HttpRequest.newBuilder(node.uri(path))
                .timeout(t)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(json));
        headers.forEach(b::header);
        return b.build();
    }

    @Override
    public void close() {
        http.shutdownNow();
        executor.shutdownNow();
    }
}
