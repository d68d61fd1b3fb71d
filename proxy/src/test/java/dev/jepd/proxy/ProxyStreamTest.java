package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Routing;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Decode streams through the proxy: bytes unchanged, flushed as they come, failures as error events. */
class ProxyStreamTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final String STREAM_REQUEST =
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";

    @RegisterExtension
    final TestResources open = new TestResources();

    private ProxyHarness proxy(StubNode d, Duration timeout) {
        return open.proxy(ProxyHarness.config(List.of(), List.of(), List.of(d), Routing.ROUND_ROBIN, timeout));
    }

    static byte[] event(String json) {
        return ("data: " + json + "\n\n").getBytes(StandardCharsets.UTF_8);
    }

    static byte[] concat(List<byte[]> parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        parts.forEach(out::writeBytes);
        return out.toByteArray();
    }

    @Test
    void decodeSseArrivesByteForByteAndChunkByChunk() throws Exception {
        byte[] first = event("{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                + "\"delta\":{\"role\":\"assistant\",\"content\":\"h\"}}]}");
        byte[] utf8 = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"é✓\"}}]}\n\n"
                .getBytes(StandardCharsets.UTF_8);
        int split = indexOf(utf8, (byte) 0xC3) + 1; // cut inside the two-byte 'é'
        List<byte[]> chunks = List.of(
                first,
                java.util.Arrays.copyOfRange(utf8, 0, split),
                java.util.Arrays.copyOfRange(utf8, split, utf8.length),
                event("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"),
                "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        CountDownLatch firstSeen = new CountDownLatch(1);
        StubNode d = open.stub().on(CHAT, (r, ex) -> {
            ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
            ex.sendResponseHeaders(200, 0);
            OutputStream out = ex.getResponseBody();
            out.write(chunks.getFirst());
            out.flush();
            // The rest only once the client has the first event: proof that the proxy does not buffer.
            assertTrue(firstSeen.await(10, TimeUnit.SECONDS), "first event never reached the client");
            for (byte[] c : chunks.subList(1, chunks.size())) {
                out.write(c);
                out.flush();
                Thread.sleep(20);
            }
            out.close();
        });
        ProxyHarness proxy = proxy(d, Duration.ofSeconds(30));

        HttpResponse<InputStream> r = ProxyHarness.CLIENT.send(
                HttpRequest.newBuilder(URI.create(proxy.url() + CHAT))
                        .POST(HttpRequest.BodyPublishers.ofString(STREAM_REQUEST))
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());

        assertEquals(200, r.statusCode());
        assertEquals(
                "text/event-stream; charset=utf-8",
                r.headers().firstValue("Content-Type").orElseThrow());
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        try (InputStream in = r.body()) {
            got.write(in.readNBytes(first.length));
            assertArrayEquals(first, got.toByteArray());
            firstSeen.countDown();
            got.write(in.readAllBytes());
        }
        assertArrayEquals(concat(chunks), got.toByteArray());
        assertEquals(STREAM_REQUEST, new String(d.received(CHAT).getFirst().body(), StandardCharsets.UTF_8));
    }

    @Test
    void aClientThatReadsSlowlyGetsALargeStreamWhole() throws Exception {
        // 16 MiB in 256 events of 64 KiB, far more than the sockets hold: the proxy must stop reading the node
        // while the client is not reading, and lose or reorder nothing when it starts again.
        List<byte[]> chunks = new ArrayList<>();
        for (int i = 0; i < 256; i++) {
            String filler = String.valueOf((char) ('a' + i % 26)).repeat(64 * 1024 - 64);
            chunks.add(event("{\"i\":" + i + ",\"t\":\"" + filler + "\"}"));
        }
        chunks.add("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        StubNode d = open.stub().on(CHAT, (r, ex) -> {
            ex.getResponseHeaders().set("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            OutputStream out = ex.getResponseBody();
            for (byte[] c : chunks) {
                out.write(c);
                out.flush();
            }
            out.close();
        });
        ProxyHarness proxy = proxy(d, Duration.ofSeconds(30));

        HttpResponse<InputStream> r = ProxyHarness.CLIENT.send(
                HttpRequest.newBuilder(URI.create(proxy.url() + CHAT))
                        .POST(HttpRequest.BodyPublishers.ofString(STREAM_REQUEST))
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        try (InputStream in = r.body()) {
            got.write(in.readNBytes(4096));
            Thread.sleep(1500); // the node has written everything by now; the buffers in between are full
            for (int n = 0; n < 64; n++) {
                got.write(in.readNBytes(4096));
                Thread.sleep(5); // then slowly for a while
            }
            got.write(in.readAllBytes());
        }
        assertArrayEquals(concat(chunks), got.toByteArray());
    }

    @Test
    void aDecodeNodeThatDiesMidStreamEndsTheStreamWithAnErrorEventAndDone() throws Exception {
        byte[] first = event("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}");
        try (ServerSocket dying = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            Thread node = Thread.ofVirtual().start(() -> {
                try (Socket s = dying.accept()) {
                    readRequest(s.getInputStream());
                    OutputStream out = s.getOutputStream();
                    out.write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                    + "Transfer-Encoding: chunked\r\n\r\n" + Integer.toHexString(first.length) + "\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
                    out.write(first);
                    out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    Thread.sleep(100);
                } catch (Exception e) {
                    // the test fails on the client side if this node misbehaves
                } // closed without the last chunk: the decode node died mid-stream
            });
            String url = "http://127.0.0.1:" + dying.getLocalPort();
            ProxyHarness proxy = new ProxyHarness(new ProxyConfig(
                    "127.0.0.1",
                    0,
                    List.of(),
                    List.of(),
                    List.of(Node.parse("decode", url)),
                    Routing.ROUND_ROBIN,
                    Duration.ofSeconds(30),
                    Duration.ofSeconds(2),
                    ProxyConfig.DEFAULT_MAX_BODY_BYTES));
            open.add(proxy);

            long t0 = System.nanoTime();
            HttpResponse<byte[]> r = proxy.post(CHAT, STREAM_REQUEST);
            long millis = (System.nanoTime() - t0) / 1_000_000;
            node.join();

            assertEquals(200, r.statusCode());
            assertTrue(millis < 10_000, "noticed at once, not after the time-out: " + millis + " ms");
            String body = ProxyHarness.text(r);
            assertTrue(body.startsWith(new String(first, StandardCharsets.UTF_8)), body);
            String[] events = body.substring(first.length).split("\n\n");
            assertEquals(2, events.length, body);
            JsonNode error = StubNode.JSON
                    .readTree(events[0].substring("data: ".length()))
                    .get("error");
            assertEquals(502, error.get("code").asInt());
            assertTrue(error.get("message").asText().contains(url), error.toString());
            assertEquals("data: [DONE]", events[1]);
        }
    }

    /** Reads one HTTP request (headers and a Content-Length body) off a raw socket. */
    private static void readRequest(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        while (!head.toString().endsWith("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                return;
            }
            head.append((char) c);
        }
        for (String line : head.toString().split("\r\n")) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                in.readNBytes(Integer.parseInt(line.substring(15).strip()));
            }
        }
    }

    @Test
    void aSilentDecodeNodeEndsTheStreamAfterTheUpstreamTimeout() throws Exception {
        byte[] first = event("{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}");
        StubNode d = open.stub();
        d.on(CHAT, (r, ex) -> {
            ex.getResponseHeaders().set("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            ex.getResponseBody().write(first);
            ex.getResponseBody().flush();
            d.closing.await();
        });
        ProxyHarness proxy = proxy(d, Duration.ofMillis(800));

        long t0 = System.nanoTime();
        HttpResponse<byte[]> r = proxy.post(CHAT, STREAM_REQUEST);
        long millis = (System.nanoTime() - t0) / 1_000_000;

        assertTrue(millis < 10_000, "bounded by the upstream time-out, took " + millis + " ms");
        String body = ProxyHarness.text(r);
        String[] events = body.substring(first.length).split("\n\n");
        JsonNode error =
                StubNode.JSON.readTree(events[0].substring("data: ".length())).get("error");
        assertEquals(504, error.get("code").asInt());
        assertEquals("TimeoutError", error.get("type").asText());
        assertEquals("data: [DONE]", events[1]);
    }

    @Test
    void aStreamLongerThanTheTimeoutIsFineWhileTokensKeepComing() throws Exception {
        List<byte[]> chunks = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            chunks.add(event("{\"i\":" + i + "}"));
        }
        chunks.add("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        StubNode d = open.stub().on(CHAT, (r, ex) -> StubNode.stream(ex, chunks, 250)); // ~2.2 s in all
        ProxyHarness proxy = proxy(d, Duration.ofSeconds(1));

        HttpResponse<byte[]> r = proxy.post(CHAT, STREAM_REQUEST);

        assertEquals(200, r.statusCode());
        assertArrayEquals(concat(chunks), r.body(), ProxyHarness.text(r));
    }

    @Test
    void aClientThatHangsUpCancelsTheDecodeRequest() throws Exception {
        CountDownLatch upstreamCut = new CountDownLatch(1);
        StubNode d = open.stub().on(CHAT, (r, ex) -> {
            ex.getResponseHeaders().set("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            OutputStream out = ex.getResponseBody();
            try {
                for (int i = 0; i < 400; i++) {
                    out.write(event("{\"i\":" + i + "}"));
                    out.flush();
                    Thread.sleep(50);
                }
            } catch (IOException e) {
                upstreamCut.countDown();
            }
        });
        ProxyHarness proxy = proxy(d, Duration.ofSeconds(30));

        HttpResponse<InputStream> r = ProxyHarness.CLIENT.send(
                HttpRequest.newBuilder(URI.create(proxy.url() + CHAT))
                        .POST(HttpRequest.BodyPublishers.ofString(STREAM_REQUEST))
                        .build(),
                HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream in = r.body()) {
            assertTrue(in.readNBytes(10).length == 10);
        } // closing mid-stream drops the connection to the proxy

        assertTrue(upstreamCut.await(15, TimeUnit.SECONDS), "the proxy kept reading from decode");
    }

    @Test
    void aDecodeErrorBeforeTheStreamStartsIsAJsonError() throws Exception {
        String error = "{\"error\":{\"message\":\"max_tokens too large\",\"type\":\"BadRequestError\","
                + "\"param\":\"max_tokens\",\"code\":400}}";
        StubNode d = open.stub().on(CHAT, (r, ex) -> StubNode.respond(ex, 400, "application/json", error));
        ProxyHarness proxy = proxy(d, Duration.ofSeconds(30));

        HttpResponse<byte[]> r = proxy.post(CHAT, STREAM_REQUEST);

        assertEquals(400, r.statusCode());
        assertEquals("application/json", r.headers().firstValue("Content-Type").orElseThrow());
        assertEquals(StubNode.JSON.readTree(error), ProxyHarness.json(r));
    }

    private static int indexOf(byte[] b, byte v) {
        for (int i = 0; i < b.length; i++) {
            if (b[i] == v) {
                return i;
            }
        }
        throw new AssertionError();
    }
}
