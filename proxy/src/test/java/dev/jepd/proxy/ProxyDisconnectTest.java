package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Routing;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A client that closes its connection while its request is proxied cuts the proxy's upstream calls at once
 * (encoder fan-out, prefill, decode; streaming or not), so that the node sees its client (the proxy) leave and
 * aborts. The nodes here are real loopback sockets that read a request and never answer; each records when the
 * proxy's connection closed.
 */
class ProxyDisconnectTest {
    private static final String CHAT = "/v1/chat/completions";
    /** How soon the node must see the proxy leave after the client did (the probe's beat is 100 ms). */
    private static final long WITHIN_MILLIS = 1000;

    @RegisterExtension
    final TestResources open = new TestResources();

    @Test
    void aNonStreamingClientThatLeavesClosesTheDecodeConnection() throws Exception {
        SilentNode d = open.add(new SilentNode());
        ProxyHarness proxy = proxy(List.of(), List.of(), List.of(d));
        assertCutWithin(proxy, text(false), d);
    }

    @Test
    void aStreamingClientThatLeavesBeforeTheFirstTokenClosesTheDecodeConnection() throws Exception {
        SilentNode d = open.add(new SilentNode());
        ProxyHarness proxy = proxy(List.of(), List.of(), List.of(d));
        assertCutWithin(proxy, text(true), d);
    }

    @Test
    void aStreamingClientThatLeavesMidStreamClosesTheDecodeConnection() throws Exception {
        SilentNode d = open.add(new SilentNode().firstChunk());
        ProxyHarness proxy = proxy(List.of(), List.of(), List.of(d));
        assertCutWithin(proxy, text(true), d);
    }

    @Test
    void aClientThatLeavesDuringPrefillClosesThePrefillConnection() throws Exception {
        SilentNode p = open.add(new SilentNode());
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(), List.of(p), List.of(d));
        assertCutWithin(proxy, text(false), p);
        Thread.sleep(200);
        assertTrue(d.received(CHAT).isEmpty(), "decode is never asked");
    }

    @Test
    void aClientThatLeavesDuringTheEncoderFanOutClosesEveryEncoderConnection() throws Exception {
        SilentNode e = open.add(new SilentNode());
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(e), List.of(), List.of(d));
        // Two images: one encoder call runs on the request's thread, the other beside it on a virtual thread.
        String body = """
                {"model":"m","messages":[{"role":"user","content":[
                  {"type":"image_url","image_url":{"url":"%s"}},
                  {"type":"image_url","image_url":{"url":"%s"}},
                  {"type":"text","text":"hi"}]}],"max_tokens":4}""".formatted(TestImages.dataUrl("png", 32, 32), TestImages.dataUrl("png", 48, 32));
        try (Socket client = send(proxy, body)) {
            e.awaitRequests(2);
            client.close();
            long closedAt = System.nanoTime();
            for (int i = 0; i < 2; i++) {
                long seen = e.awaitClose();
                assertFast(seen - closedAt);
            }
        }
        Thread.sleep(200);
        assertTrue(d.received(CHAT).isEmpty(), "decode is never asked");
    }

    @Test
    void aClientThatWaitsIsNotCut() throws Exception {
        StubNode d = open.stub().on(CHAT, (r, ex) -> {
            Thread.sleep(1500);
            StubNode.respond(ex, 200, "application/json", StubNode.chatCompletion("ok"));
        });
        ProxyHarness proxy = proxy(List.of(), List.of(), List.of(d));
        var r = proxy.post(CHAT, text(false));
        assertTrue(r.statusCode() == 200, new String(r.body(), StandardCharsets.UTF_8));
    }

    private void assertCutWithin(ProxyHarness proxy, String body, SilentNode node) throws Exception {
        try (Socket client = send(proxy, body)) {
            node.awaitRequests(1);
            Thread.sleep(300); // the proxy is now waiting for the node's answer
            client.close();
            long closedAt = System.nanoTime();
            long seen = node.awaitClose();
            assertFast(seen - closedAt);
        }
    }

    private static void assertFast(long nanos) {
        long millis = TimeUnit.NANOSECONDS.toMillis(nanos);
        assertTrue(millis < WITHIN_MILLIS, "the node saw the proxy leave " + millis + " ms after the client");
    }

    private static String text(boolean stream) {
        return "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4000"
                + (stream ? ",\"stream\":true}" : "}");
    }

    /** Sends a whole request on a raw socket and leaves it waiting for the answer. */
    private static Socket send(ProxyHarness proxy, String body) throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.proxy.port());
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("POST " + CHAT + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + bytes.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        out.write(bytes);
        out.flush();
        return s;
    }

    private ProxyHarness proxy(List<SilentNode> e, List<Object> p, List<Object> d) {
        return open.proxy(new ProxyConfig(
                "127.0.0.1",
                0,
                e.stream().map(n -> Node.parse("encode", n.url())).toList(),
                p.stream().map(n -> Node.parse("prefill", url(n))).toList(),
                d.stream().map(n -> Node.parse("decode", url(n))).toList(),
                Routing.ROUND_ROBIN,
                Duration.ofSeconds(30),
                Duration.ofSeconds(2),
                ProxyConfig.DEFAULT_MAX_BODY_BYTES));
    }

    private static String url(Object node) {
        return node instanceof SilentNode s ? s.url() : ((StubNode) node).url();
    }

    /**
     * A node that reads each request and never answers (or, {@link #firstChunk}, answers a stream's head and first
     * event, then nothing); it records when the proxy closed each connection.
     */
    private static final class SilentNode implements AutoCloseable {
        private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        private final BlockingQueue<Long> requests = new LinkedBlockingQueue<>();
        private final BlockingQueue<Long> closes = new LinkedBlockingQueue<>();
        private final List<Socket> sockets = new CopyOnWriteArrayList<>();
        private volatile boolean firstChunk;

        SilentNode() throws IOException {
            Thread.ofPlatform().daemon().start(this::accept);
        }

        SilentNode firstChunk() {
            firstChunk = true;
            return this;
        }

        String url() {
            return "http://127.0.0.1:" + server.getLocalPort();
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    sockets.add(s);
                    Thread.ofVirtual().start(() -> serve(s));
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serve(Socket s) {
            try (s) {
                InputStream in = s.getInputStream();
                StringBuilder head = new StringBuilder();
                while (!head.toString().endsWith("\r\n\r\n")) {
                    int c = in.read();
                    if (c < 0) {
                        return;
                    }
                    head.append((char) c);
                }
                String lower = head.toString().toLowerCase(java.util.Locale.ROOT);
                int at = lower.indexOf("content-length:");
                int length = Integer.parseInt(
                        lower.substring(at + 15, lower.indexOf('\r', at)).trim());
                in.readNBytes(length);
                requests.add(System.nanoTime());
                if (firstChunk) {
                    s.getOutputStream()
                            .write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                            + "Transfer-Encoding: chunked\r\n\r\n"
                                            + "f\r\ndata: {\"a\":1}\n\n\r\n")
                                    .getBytes(StandardCharsets.US_ASCII));
                    s.getOutputStream().flush();
                }
                try {
                    while (in.read() >= 0) {
                        // a pipelined byte would be a protocol error; just wait for the end
                    }
                } catch (IOException e) {
                    // reset: closed too
                }
                closes.add(System.nanoTime());
            } catch (IOException e) {
                closes.add(System.nanoTime());
            }
        }

        void awaitRequests(int n) throws InterruptedException {
            for (int i = 0; i < n; i++) {
                assertNotNull(requests.poll(10, TimeUnit.SECONDS), "request " + (i + 1) + " reached the node");
            }
        }

        long awaitClose() throws InterruptedException {
            Long at = closes.poll(10, TimeUnit.SECONDS);
            assertNotNull(at, "the proxy closed its connection to the node");
            return at;
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (Socket s : sockets) {
                s.close();
            }
        }
    }
}
