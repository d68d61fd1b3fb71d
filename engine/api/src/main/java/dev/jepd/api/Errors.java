package dev.jepd.api;

import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Writes an {@link ApiException} as an OpenAI error response, unless the response already started. */
public final class Errors {
    private static final Logger LOG = LoggerFactory.getLogger(Errors.class);

    private Errors() {}

    /**
     * Any failure of a route: an {@link ApiException} as itself, anything else logged (its details never shown to
     * the client) and a 500.
     */
    public static void sendFailure(HttpServerExchange ex, Throwable t) {
        if (t instanceof ApiException e) {
            send(ex, e);
            return;
        }
        LOG.error("unhandled error on {} {}", ex.getRequestMethod(), ex.getRequestPath(), t);
        send(ex, new ApiException(500, "internal server error: " + t.getClass().getSimpleName(), null));
    }

    public static void send(HttpServerExchange ex, ApiException e) {
        if (ex.isResponseStarted()) {
            // Too late for a status: the stream's own error event (if any) has to do.
            ex.endExchange();
            return;
        }
        if (e.retryAfterSeconds() > 0) {
            ex.getResponseHeaders().put(Headers.RETRY_AFTER, e.retryAfterSeconds());
        }
        Json.send(ex, e.status(), e.body());
    }
}
