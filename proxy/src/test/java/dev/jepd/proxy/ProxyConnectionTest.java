package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Routing;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The proxy's own HTTP/1.1 client against a node that closes kept-alive connections after each answer without
 * saying so (as a node restarting, or one with a short idle time-out, does): the next request, written into the
 * dead connection, is sent again on a new one and the client never sees the difference. And against a node whose
 * answer arrives a few bytes at a time, so that head lines, CRLFs and chunk sizes are split between reads.
 */
class ProxyConnectionTest {
    @RegisterExtension
    final TestResources open = new TestResources();

    @Test
    void aKeptAliveConnectionTheNodeClosedIsReplacedWithoutAFailure() throws Exception {
        String answer = StubNode.chatCompletion("ok");
        AtomicInteger connections = new AtomicInteger();
        try (ServerSocket node = new ServerSocket(0, 16, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                while (!node.isClosed()) {
                    try (Socket s = node.accept()) {
                        connections.incrementAndGet();
                        readRequest(s.getInputStream());
                        OutputStream out = s.getOutputStream();
                        byte[] body = answer.getBytes(StandardCharsets.UTF_8);
                        out.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                                        + "\r\n\r\n")
                                .getBytes(StandardCharsets.US_ASCII));
                        out.write(body);
                        out.flush();
                        Thread.sleep(50);
                    } catch (Exception e) {
                        // closed: the test is over
                    } // closed without "Connection: close": the proxy believes it is kept alive
                }
            });
            ProxyHarness proxy = open.proxy(new ProxyConfig(
                    "127.0.0.1",
                    0,
                    List.of(),
                    List.of(),
                    List.of(Node.parse("decode", "http://127.0.0.1:" + node.getLocalPort())),
                    Routing.ROUND_ROBIN,
                    Duration.ofSeconds(10),
                    Duration.ofSeconds(2),
                    ProxyConfig.DEFAULT_MAX_BODY_BYTES));
            String text = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
            for (int i = 0; i < 5; i++) {
                var r = proxy.post("/v1/chat/completions", text);
                assertEquals(200, r.statusCode(), ProxyHarness.text(r));
                Thread.sleep(100); // the node has closed its side by now
            }
            assertEquals(5, connections.get(), "one new connection per request, none failed");
        }
    }

    @Test
    void anAnswerThatArrivesInFragmentsIsReadWholeAndStreamedUnchanged() throws Exception {
        String json = StubNode.chatCompletion("fragments");
        String events = "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";
        try (ServerSocket node = new ServerSocket(0, 16, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                while (!node.isClosed()) {
                    try (Socket s = node.accept()) {
                        s.setTcpNoDelay(true);
                        OutputStream out = s.getOutputStream();
                        for (int n = 0; n < 2; n++) { // two answers on one kept-alive connection
                            boolean stream = readRequest(s.getInputStream()).contains("\"stream\":true");
                            String answer = stream
                                    ? "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked"
                                            + "\r\n\r\n" + chunked(events, 7) + "0\r\n\r\n"
                                    : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                            + json.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + json;
                            byte[] bytes = answer.getBytes(StandardCharsets.UTF_8);
                            for (int i = 0; i < bytes.length; i += 3) {
                                out.write(bytes, i, Math.min(3, bytes.length - i));
                                out.flush();
                                Thread.sleep(1);
                            }
                        }
                    } catch (Exception e) {
                        // closed: the test is over
                    }
                }
            });
            ProxyHarness proxy = open.proxy(new ProxyConfig(
                    "127.0.0.1",
                    0,
                    List.of(),
                    List.of(),
                    List.of(Node.parse("decode", "http://127.0.0.1:" + node.getLocalPort())),
                    Routing.ROUND_ROBIN,
                    Duration.ofSeconds(10),
                    Duration.ofSeconds(2),
                    ProxyConfig.DEFAULT_MAX_BODY_BYTES));
            String text = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
            var whole = proxy.post("/v1/chat/completions", text + "}");
            assertEquals(200, whole.statusCode(), ProxyHarness.text(whole));
            assertEquals(json, ProxyHarness.text(whole));
            var streamed = proxy.post("/v1/chat/completions", text + ",\"stream\":true}");
            assertEquals(200, streamed.statusCode(), ProxyHarness.text(streamed));
            assertEquals(events, ProxyHarness.text(streamed));
        }
    }

    /** {@code text} as HTTP/1.1 chunks of at most {@code size} bytes. */
    private static String chunked(String text, int size) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < text.length(); i += size) {
            String part = text.substring(i, Math.min(text.length(), i + size));
            b.append(Integer.toHexString(part.length()))
                    .append("\r\n")
                    .append(part)
                    .append("\r\n");
        }
        return b.toString();
    }

    private static String readRequest(InputStream in) throws Exception {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int length = 0;
        StringBuilder line = new StringBuilder();
        while (true) {
            int c = in.read();
            if (c < 0) {
                return "";
            }
            head.write(c);
            if (c == '\n') {
                String l = line.toString().strip();
                if (l.isEmpty()) {
                    break;
                }
                if (l.toLowerCase().startsWith("content-length:")) {
                    length = Integer.parseInt(l.substring(15).strip());
                }
                line.setLength(0);
            } else {
                line.append((char) c);
            }
        }
        return new String(in.readNBytes(length), StandardCharsets.UTF_8);
    }
}
