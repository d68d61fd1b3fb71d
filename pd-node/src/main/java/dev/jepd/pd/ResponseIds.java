package dev.jepd.pd;

import dev.jepd.api.HttpServer;
import io.undertow.server.HttpServerExchange;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The id a response carries ({@code prefix} + the client's X-Request-Id, or a fresh one) and the engine's id
 * for the request, made unique with a sequence number since clients may repeat their ids.
 */
final class ResponseIds {
    private final String prefix;
    private final AtomicLong seq = new AtomicLong();

    ResponseIds(String prefix) {
        this.prefix = prefix;
    }

    String responseId(HttpServerExchange ex) {
        // Validated by the handler chain: a client's id that is too long or odd is replaced, never used raw.
        return prefix + HttpServer.requestId(ex);
    }

    String engineId(String responseId) {
        return responseId + "#" + seq.incrementAndGet();
    }
}
