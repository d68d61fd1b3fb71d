package dev.jepd.api;

import io.undertow.server.HttpServerExchange;

/** Writes an {@link ApiException} as an OpenAI error response, unless the response already started. */
public final class Errors {
    private Errors() {}

    public static void send(HttpServerExchange ex, ApiException e) {
        if (ex.isResponseStarted()) {
            // Too late for a status: the stream's own error event (if any) has to do.
            ex.endExchange();
            return;
        }
        Json.send(ex, e.status(), e.body());
    }
}
