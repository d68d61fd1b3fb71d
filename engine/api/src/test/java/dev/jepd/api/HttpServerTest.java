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
                // IO-thread routes: one answers later from the IO thread, one hands over to a worker, one throws
                .postOnIoThread("/v1/io/later", ex -> {
                    String thread = Thread.currentThread().getName();
                    ex.dispatch(io.undertow.util.SameThreadExecutor.INSTANCE, () -> ex.getIoThread()
                            .executeAfter(
                                    () -> Json.send(
                                            ex,
                                            200,
                                            Json.MAPPER.createObjectNode().put("started_on", thread)),
                                    20,
                                    java.util.concurrent.TimeUnit.MILLISECONDS));
                })
                .postOnIoThread(
                        "/v1/io/handover",
                        ex -> ex.dispatch(HttpServer.blocking(worker -> {
                            Thread.sleep(10); // a worker may block
                            Json.send(worker, 200, Json.readObject(worker, 64));
                        })))
                .postOnIoThread("/v1/io/boom", ex -> {
                    throw new ApiException(422, "refused on the IO thread", null);
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
    void ioThreadRoutesAnswerLaterHandOverOrFailAsOpenAiJson() throws Exception {
        String[] auth = {"Authorization", "Bearer sk-right"};
        var later = send("POST", "/v1/io/later", "{}", auth);
        assertEquals(200, later.statusCode(), later.body());
        assertTrue(
                Json.MAPPER.readTree(later.body()).path("started_on").asText().contains("I/O"),
                "the route started on an IO thread: " + later.body());
        var handover = send("POST", "/v1/io/handover", "{\"a\":1}", auth);
        assertEquals(200, handover.statusCode(), handover.body());
        assertEquals(1, Json.MAPPER.readTree(handover.body()).path("a").asInt());
        error(send("POST", "/v1/io/handover", "{\"a\":", auth), 400); // the worker's errors are mapped too
        assertEquals(
                "refused on the IO thread",
                error(send("POST", "/v1/io/boom", "{}", auth), 422)
                        .path("message")
                        .asText());
        error(send("POST", "/v1/io/later", "{}"), 401); // the API key guards them as every /v1 route
    }

    @Test
    void expectContinueIsAnsweredAtOnceOnBothRouteKinds() throws Exception {
        for (String path : new String[] {"/v1/echo", "/v1/io/handover"}) {
            try (java.net.Socket s = new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), server.port())) {
                s.setSoTimeout(5000);
                byte[] body = "{\"a\":1}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
                var out = s.getOutputStream();
                out.write(("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-right\r\n"
                                + "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: "
                                + body.length + "\r\n\r\n")
                        .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                out.flush();
                long t0 = System.nanoTime();
                var in = s.getInputStream();
                String interim = readHead(in);
                long millis = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(interim.startsWith("HTTP/1.1 100"), path + ": " + interim);
                assertTrue(millis < 900, path + ": 100 Continue took " + millis + " ms");
                out.write(body);
                out.flush();
                assertTrue(readHead(in).startsWith("HTTP/1.1 200"), path);
            }
        }
    }

    private static String readHead(java.io.InputStream in) throws java.io.IOException {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                break;
            }
            head.append((char) c);
        }
        return head.toString();
    }

    @Test
    void requestIdIsEchoed() throws Exception {
        var r = send("GET", "/health", null, "X-Request-Id", "abc-123");
        assertEquals("abc-123", r.headers().firstValue("X-Request-Id").orElse(""));
        assertTrue(r.body().isEmpty());
    }
}
