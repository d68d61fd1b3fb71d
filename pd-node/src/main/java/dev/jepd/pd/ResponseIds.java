package dev.jepd.pd;

import dev.jepd.api.HttpServer;
import io.undertow.server.HttpServerExchange;
import java.util.UUID;
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
        String given = ex.getRequestHeaders().getFirst(HttpServer.REQUEST_ID);
        String base = given != null && !given.isBlank()
                ? given
                : UUID.randomUUID().toString().replace("-", "");
        return prefix + base;
    }

    String engineId(String responseId) {
        return responseId + "#" + seq.incrementAndGet();
    }
}
