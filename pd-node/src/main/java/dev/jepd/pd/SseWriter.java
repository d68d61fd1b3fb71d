package dev.jepd.pd;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.api.Sse;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.io.IOException;
import java.io.OutputStream;

/**
 * One Server-Sent Events response. The status and headers go out with the first event, so until then the
 * route can still answer with an HTTP error instead.
 */
final class SseWriter {
    private final HttpServerExchange ex;
    private OutputStream os;

    SseWriter(HttpServerExchange ex) {
        this.ex = ex;
    }

    /** Whether anything was written (the 200 and the headers are then committed). */
    boolean started() {
        return os != null;
    }

    /** Writes {@code data: <json>} and flushes, so the client sees each token as it comes. */
    void event(JsonNode data) throws IOException {
        write(Sse.event(data));
    }

    /** Writes {@code data: [DONE]} and ends the exchange. */
    void done() throws IOException {
        write(Sse.DONE);
        ex.endExchange();
    }

    private void write(byte[] bytes) throws IOException {
        if (os == null) {
            ex.setStatusCode(200);
            ex.getResponseHeaders().put(Headers.CONTENT_TYPE, Sse.CONTENT_TYPE);
            ex.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-cache");
            os = ex.getOutputStream();
        }
        os.write(bytes);
        os.flush();
    }
}
