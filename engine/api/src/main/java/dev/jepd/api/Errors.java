package dev.jepd.api;

import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;

/** Writes an {@link ApiException} as an OpenAI error response, unless the response already started. */
public final class Errors {
    private Errors() {}

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
