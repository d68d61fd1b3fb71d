package dev.jepd.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** The shared ObjectMapper and the JSON in/out of an exchange. */
public final class Json {
    public static final ObjectMapper MAPPER =
            new ObjectMapper().configure(DeserializationFeature.FAIL_ON_TRAILING_TOKENS, true);

    private Json() {}

    /**
     * Reads the request body as a JSON object (blocking: call from a worker thread). Malformed JSON, an
     * empty body or a non-object is a 400; a body over {@code maxBytes} is a 413.
     */
    public static ObjectNode readObject(HttpServerExchange exchange, long maxBytes) {
        checkContentType(exchange.getRequestHeaders().getFirst(Headers.CONTENT_TYPE));
        if (exchange.getRequestContentLength() > maxBytes) {
            throw new ApiException(413, "request body exceeds " + maxBytes + " bytes", null);
        }
        byte[] body;
        try {
            exchange.startBlocking();
            InputStream in = exchange.getInputStream();
            body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBytes + 1));
        } catch (IOException | RuntimeException e) {
            // Also what Undertow throws when the body deadline closed the connection under a blocked read.
            throw new ApiException(
                    400, "could not read the request body: " + e.getClass().getSimpleName(), null);
        }
        if (body.length > maxBytes) {
            throw new ApiException(413, "request body exceeds " + maxBytes + " bytes", null);
        }
        return parseObject(body);
    }

    /**
     * A JSON body must say so when it names its type at all: {@code application/json} or any {@code +json} type,
     * parameters allowed; no {@code Content-Type} is taken as JSON (as FastAPI does). Anything else is a 415.
     */
    public static void checkContentType(String contentType) {
        if (contentType == null) {
            return;
        }
        String type = contentType.split(";", 2)[0].strip().toLowerCase(java.util.Locale.ROOT);
        if (!type.equals("application/json") && !type.endsWith("+json")) {
            String shown = type.length() > 64 ? type.substring(0, 64) + "..." : type;
            throw new ApiException(
                    415,
                    "Content-Type must be application/json, got '" + shown.replaceAll("[^\\x20-\\x7e]", "?") + "'",
                    null);
        }
    }

    public static ObjectNode parseObject(byte[] body) {
        if (body.length == 0) {
            throw ApiException.badRequest("request body is empty; expected a JSON object");
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest("malformed JSON in request body: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw ApiException.badRequest("could not parse request body: " + e.getMessage());
        }
        if (node == null || !node.isObject()) {
            throw ApiException.badRequest("request body must be a JSON object");
        }
        return (ObjectNode) node;
    }

    public static byte[] bytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static void send(HttpServerExchange exchange, int status, JsonNode body) {
        exchange.setStatusCode(status);
        exchange.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
        exchange.getResponseSender().send(new String(bytes(body), StandardCharsets.UTF_8), StandardCharsets.UTF_8);
    }
}
