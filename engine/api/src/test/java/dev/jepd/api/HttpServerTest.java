package dev.jepd.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The shared handler chain on a real Undertow server: API key, request ids, errors as OpenAI JSON. */
class HttpServerTest {
    static HttpServer server;
    static final HttpClient CLIENT = HttpClient.newHttpClient();

    @BeforeAll
    static void start() {
        server = HttpServer.builder("test")
                .port(0)
                .apiKey("sk-right")
                .get("/health", ex -> ex.setStatusCode(200))
                .post("/v1/echo", ex -> Json.send(ex, 200, Json.readObject(ex, 64)))
                .post("/v1/boom", ex -> {
                    throw new IllegalStateException("secret internals");
                })
                .start();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static HttpResponse<String> send(String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode error(HttpResponse<String> r, int status) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode e = Json.MAPPER.readTree(r.body()).path("error");
        assertEquals(status, e.path("code").asInt());
        assertFalse(e.path("message").asText().isBlank());
        return e;
    }

    @Test
    void apiKeyGuardsV1RoutesOnly() throws Exception {
        assertEquals(
                "AuthenticationError",
                error(send("POST", "/v1/echo", "{}"), 401).path("type").asText());
        error(send("POST", "/v1/echo", "{}", "Authorization", "Bearer sk-wrong"), 401);
        error(send("POST", "/v1/echo", "{}", "Authorization", "sk-right"), 401);
        assertEquals(
                200,
                send("POST", "/v1/echo", "{\"a\":1}", "Authorization", "Bearer sk-right")
                        .statusCode());
        assertEquals(200, send("GET", "/health", null).statusCode());
    }

    @Test
    void errorsAreOpenAiJsonWithoutInternals() throws Exception {
        String[] auth = {"Authorization", "Bearer sk-right"};
        error(send("POST", "/v1/echo", "{\"a\":", auth), 400);
        error(send("POST", "/v1/echo", "[]", auth), 400);
        error(send("POST", "/v1/echo", "{\"padding\":\"" + "x".repeat(100) + "\"}", auth), 413);
        JsonNode boom = error(send("POST", "/v1/boom", "{}", auth), 500);
        assertFalse(boom.path("message").asText().contains("secret internals"));
        error(send("GET", "/nope", null), 404);
        error(send("GET", "/v1/echo", null, auth), 405);
    }

    @Test
    void requestIdIsEchoed() throws Exception {
        var r = send("GET", "/health", null, "X-Request-Id", "abc-123");
        assertEquals("abc-123", r.headers().firstValue("X-Request-Id").orElse(""));
        assertTrue(r.body().isEmpty());
    }
}
