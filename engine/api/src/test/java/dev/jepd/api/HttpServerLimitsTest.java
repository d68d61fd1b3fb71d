package dev.jepd.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The limits of the shared handler chain, over raw sockets on a real server: framing errors and oversized heads
 * answered with OpenAI JSON, slow heads and short bodies cut by their deadlines, Content-Type checked,
 * X-Request-Id validated, a client that closes its socket seen as gone.
 */
class HttpServerLimitsTest {
    static HttpServer server;
    static final AtomicBoolean sawGone = new AtomicBoolean();
    static final CountDownLatch probing = new CountDownLatch(1);

    @BeforeAll
    static void start() {
        server = HttpServer.builder("limits")
                .port(0)
                .headerTimeout(Duration.ofSeconds(2))
                .bodyTimeout(Duration.ofSeconds(2))
                .idleTimeout(Duration.ofSeconds(2))
                .post("/v1/echo", ex -> Json.send(ex, 200, Json.readObject(ex, 1 << 20)))
                .get(
                        "/id",
                        ex -> Json.send(ex, 200, Json.MAPPER.createObjectNode().put("id", HttpServer.requestId(ex))))
                .post("/v1/probe", ex -> {
                    Json.readObject(ex, 1 << 20);
                    boolean gone = false;
                    for (int i = 0; i < 10 && !gone; i++) {
                        gone = ClientConnection.gone(ex);
                        Thread.sleep(30);
                    }
                    Json.send(ex, 200, Json.MAPPER.createObjectNode().put("gone", gone));
                })
                .get("/wait", ex -> {
                    probing.countDown();
                    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                    while (System.nanoTime() < end) {
                        if (ClientConnection.gone(ex)) {
                            sawGone.set(true);
                            return;
                        }
                        Thread.sleep(50);
                    }
                    Json.send(ex, 200, Json.MAPPER.createObjectNode());
                })
                .start();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    /** Sends raw bytes and reads the whole answer until the server closes (or 20 s pass). */
    static String raw(byte[] request) throws IOException {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(20_000);
            OutputStream out = s.getOutputStream();
            try {
                out.write(request);
                out.flush();
            } catch (IOException e) {
                // the server may close before it has read everything: its answer is still there to read
            }
            return readAll(s.getInputStream());
        }
    }

    static String readAll(InputStream in) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        try {
            for (int n; (n = in.read(buf)) > 0; ) {
                got.write(buf, 0, n);
                if (got.toString(StandardCharsets.ISO_8859_1).matches("(?s).*\\r\\n\\r\\n\\{.*}$")) {
                    break; // one complete JSON answer
                }
            }
        } catch (IOException e) {
            // reset after the answer: keep what arrived
        }
        return got.toString(StandardCharsets.UTF_8);
    }

    static JsonNode jsonError(String response, int status) throws IOException {
        assertTrue(
                response.startsWith("HTTP/1.1 " + status),
                response.lines().findFirst().orElse("(nothing)"));
        String body = response.substring(response.indexOf("\r\n\r\n") + 4);
        JsonNode e = Json.MAPPER.readTree(body).path("error");
        assertEquals(status, e.path("code").asInt(), body);
        assertFalse(e.path("message").asText().isBlank());
        return e;
    }

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    @Test
    void framingErrorsAndOversizedHeadsAreOpenAiJson() throws IOException {
        jsonError(raw(ascii("THIS IS NOT HTTP\r\n\r\n")), 400);
        jsonError(raw(ascii("GET /id HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n")), 400);
        String big = "GET /id HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(1 << 20) + "\r\n\r\n";
        jsonError(raw(ascii(big)), 400);
        StringBuilder many = new StringBuilder("GET /id HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 2000; i++) {
            many.append("X-H").append(i).append(": v\r\n");
        }
        jsonError(raw(ascii(many.append("\r\n").toString())), 400);
    }

    @Test
    void aBodyShorterThanItsContentLengthIsCutByTheBodyDeadline() throws IOException {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(20_000);
            s.getOutputStream()
                    .write(ascii("POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            + "Content-Length: 100\r\n\r\n{\"a\":"));
            // At its 2 s body deadline the server answers 408 JSON and closes; a hang ends in SocketTimeoutException.
            try {
                String answer = readAll(s.getInputStream());
                jsonError(answer, 408);
            } catch (SocketTimeoutException e) {
                throw new AssertionError("a short body held the connection open for 20 s", e);
            }
        }
    }

    @Test
    void aSlowHeadIsCutByTheHeaderDeadline() throws IOException {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write(ascii("GET /id HTTP/1.1\r\nHost: x\r\n"));
            try {
                assertEquals(-1, s.getInputStream().read());
            } catch (SocketTimeoutException e) {
                throw new AssertionError("a slow head held the connection open for 20 s", e);
            } catch (IOException reset) {
                // closed with a reset: also cut
            }
        }
    }

    @Test
    void contentTypeMustBeJsonWhenGiven() throws IOException {
        String body = "{\"a\":1}";
        jsonError(
                raw(ascii("POST /v1/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                        + "Content-Length: " + body.length() + "\r\n\r\n" + body)),
                415);
        String ok = raw(ascii("POST /v1/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                + "Content-Type: application/json; charset=utf-8\r\nContent-Length: " + body.length() + "\r\n\r\n"
                + body));
        assertTrue(ok.startsWith("HTTP/1.1 200"), ok);
    }

    @Test
    void requestIdsAreValidatedAndBounded() throws IOException {
        String good =
                raw(ascii("GET /id HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: parent:0:abc123\r\n\r\n"));
        assertTrue(good.contains("\"id\":\"parent:0:abc123\""), good);
        for (String bad : new String[] {"../../etc/x", "a".repeat(10_000), "a b"}) {
            String r =
                    raw(ascii("GET /id HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-Id: " + bad + "\r\n\r\n"));
            assertTrue(r.startsWith("HTTP/1.1 200"), r.lines().findFirst().orElse(""));
            assertFalse(r.contains(bad), "the invalid id came back");
            assertTrue(r.length() < 4096, "the answer stays small");
        }
    }

    @Test
    void aClientThatWaitsIsNotGone() throws Exception {
        var client = java.net.http.HttpClient.newHttpClient();
        for (int i = 0; i < 3; i++) {
            var r = client.send(
                    java.net.http.HttpRequest.newBuilder(
                                    java.net.URI.create("http://127.0.0.1:" + server.port() + "/v1/probe"))
                            .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"a\":1}"))
                            .build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals("{\"gone\":false}", r.body());
        }
    }

    @Test
    void aClientThatClosesItsSocketIsSeenAsGone() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.getOutputStream().write(ascii("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
            assertTrue(probing.await(10, TimeUnit.SECONDS));
        }
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!sawGone.get() && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertTrue(sawGone.get(), "the route never saw its client leave");
    }
}
