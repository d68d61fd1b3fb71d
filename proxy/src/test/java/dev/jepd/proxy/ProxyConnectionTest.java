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
 * dead connection, is sent again on a new one and the client never sees the difference.
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

    private static void readRequest(InputStream in) throws Exception {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int length = 0;
        StringBuilder line = new StringBuilder();
        while (true) {
            int c = in.read();
            if (c < 0) {
                return;
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
        in.readNBytes(length);
    }
}
