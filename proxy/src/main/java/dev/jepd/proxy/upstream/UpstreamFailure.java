package dev.jepd.proxy.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import java.io.IOException;
import java.net.ConnectException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CancellationException;

/**
 * What the client sees when an upstream fails, as an OpenAI error: 502 when the node is unreachable or
 * answered with a 5xx (the proxy is the gateway), 504 when it did not answer in time, and the node's own
 * status and error body, verbatim, when it rejected the input with a 4xx (an undecodable image stays a
 * 400, as if the client had talked to the node itself).
 */
public final class UpstreamFailure {
    private static final int SNIPPET = 300;

    private UpstreamFailure() {}

    /** A node that did not answer within {@code limit}. */
    public static ApiException timeout(Node node, Duration limit) {
        return new Unreachable(504, node + " did not answer within " + seconds(limit));
    }

    /**
     * Whether another node may succeed where this one failed: the node was unreachable, timed out or failed
     * with a 5xx. A 4xx is the input's fault and would fail anywhere.
     */
    public static boolean retryable(ApiException e) {
        return e.status() >= 500;
    }

    /** Whether the failure says the node itself is gone or stuck (evict it), not that it answered badly. */
    public static boolean unreachable(ApiException e) {
        return e instanceof Unreachable;
    }

    /** A failure below HTTP: refused, reset, closed, time-outs raised by the client itself. */
    public static ApiException transport(Node node, Throwable failure, Duration limit) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof ApiException api) {
                return api;
            }
            if (t instanceof HttpConnectTimeoutException) {
                return new Unreachable(502, node + " is unreachable: no connection within the connect time-out");
            }
            if (t instanceof HttpTimeoutException || t instanceof java.net.SocketTimeoutException) {
                return timeout(node, limit);
            }
            if (t instanceof ConnectException) {
                return new Unreachable(502, node + " is unreachable: " + describe(t, "connection refused"));
            }
            if (t instanceof CancellationException) {
                return new ApiException(502, node + ": request cancelled", null);
            }
        }
        Throwable root = failure;
        while (root.getCause() != null && !(root instanceof IOException)) {
            root = root.getCause();
        }
        return new Unreachable(
                502, node + " failed: " + describe(root, root.getClass().getSimpleName()));
    }

    /** A node that answered with a status other than 2xx. */
    public static ApiException status(Node node, int status, byte[] body) {
        return status(node, status, body, false);
    }

    /**
     * As above; {@code closing}: the node closes the connection after it. A 503 that does so is a node draining
     * (JEPD's nodes on SIGTERM): nothing ran there, so another node of its role may take the request, and the node
     * is evicted until its {@code /health} answers 200 again. Any other 503 (an overloaded node) is retried
     * elsewhere without eviction.
     */
    public static ApiException status(Node node, int status, byte[] body, boolean closing) {
        ObjectNode json = errorJson(body);
        if (status == 503) {
            String detail = json != null ? json.path("error").path("message").asText(snippet(body)) : snippet(body);
            String message = node + " is unavailable (HTTP 503): " + detail;
            return (closing ? new Draining(message) : new ApiException(503, message, null)).withRetryAfter(1);
        }
        if (status >= 400 && status < 500) {
            if (json != null) {
                return new PassedThrough(status, json);
            }
            return new ApiException(
                    status, node + " rejected the request (HTTP " + status + "): " + snippet(body), null);
        }
        String detail = json != null ? json.path("error").path("message").asText(snippet(body)) : snippet(body);
        return new ApiException(502, node + " failed with HTTP " + status + ": " + detail, null);
    }

    /** The body if it is an OpenAI error object ({@code {"error":{…}}}), else null. */
    private static ObjectNode errorJson(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        try {
            JsonNode node = Json.MAPPER.readTree(body);
            return node != null && node.isObject() && node.path("error").isObject() ? (ObjectNode) node : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static String snippet(byte[] body) {
        if (body == null || body.length == 0) {
            return "(empty body)";
        }
        String text = new String(body, 0, Math.min(body.length, SNIPPET * 4), StandardCharsets.UTF_8).strip();
        return text.length() > SNIPPET ? text.substring(0, SNIPPET) + "…" : text;
    }

    private static String describe(Throwable t, String fallback) {
        String m = t.getMessage();
        return m == null || m.isBlank() ? fallback : m;
    }

    static String seconds(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + " s" : String.format("%.3f s", ms / 1000.0);
    }

    /** A node that could not be reached, reset the connection or did not answer in time. */
    static class Unreachable extends ApiException {
        Unreachable(int status, String message) {
            super(status, message, null);
        }
    }

    /** A node that stops taking requests (503 and {@code Connection: close}): evicted as if unreachable. */
    static final class Draining extends Unreachable {
        Draining(String message) {
            super(503, message);
        }
    }

    /** An upstream's 4xx error, status and body unchanged. */
    private static final class PassedThrough extends ApiException {
        private final ObjectNode body;

        PassedThrough(int status, ObjectNode body) {
            super(
                    status,
                    body.path("error").path("type").asText(ApiException.typeFor(status)),
                    body.path("error").path("message").asText(""),
                    body.path("error").path("param").isTextual()
                            ? body.path("error").path("param").asText()
                            : null);
            this.body = body;
        }

        @Override
        public ObjectNode body() {
            return body.deepCopy();
        }
    }
}
