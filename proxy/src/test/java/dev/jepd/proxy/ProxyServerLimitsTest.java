package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.proxy.upstream.Routing;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The proxy's own server deadlines and connection bound ({@code --http-header-timeout}, {@code
 * --http-body-timeout}, {@code --http-idle-timeout}, {@code --max-connections}), set short here: slow clients
 * are cut by them and a connection over the bound waits until one is released.
 */
class ProxyServerLimitsTest {
    @RegisterExtension
    final TestResources open = new TestResources();

    private ProxyHarness proxy(int maxConnections) throws Exception {
        StubNode decode = open.stub();
        ProxyConfig config = ProxyHarness.config(
                        List.of(), List.of(), List.of(decode), Routing.ROUND_ROBIN, Duration.ofSeconds(30))
                .with(new ProxyConfig.ServerLimits(
                        Duration.ofMillis(1500), Duration.ofMillis(1500), Duration.ofMillis(1500), maxConnections));
        return open.proxy(config);
    }

    @Test
    void slowHeadsSlowBodiesAndIdleConnectionsAreCutByTheProxysDeadlines() throws Exception {
        ProxyHarness proxy = proxy(64);
        int port = proxy.proxy.port();
        try (Socket head = new Socket("127.0.0.1", port);
                Socket body = new Socket("127.0.0.1", port);
                Socket idle = new Socket("127.0.0.1", port)) {
            long started = System.nanoTime();
            head.getOutputStream().write(ascii("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"));
            body.getOutputStream()
                    .write(ascii("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            + "Content-Length: 100\r\n\r\n{\"mess"));
            idle.getOutputStream().write(ascii("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"));

            assertEquals("", readAll(head), "a slow head is closed without an answer");
            String cut = readAll(body);
            assertTrue(cut.startsWith("HTTP/1.1 408"), cut);
            assertTrue(cut.contains("\"error\""), cut);
            String answered = readAll(idle);
            assertTrue(answered.startsWith("HTTP/1.1 404"), answered); // answered, then closed once idle
            double seconds = (System.nanoTime() - started) / 1e9;
            assertTrue(seconds > 1.0 && seconds < 15, "cut after " + seconds + " s");
        }
    }

    @Test
    void aConnectionOverTheBoundWaitsUntilOneIsReleased() throws Exception {
        ProxyHarness proxy = proxy(1);
        int port = proxy.proxy.port();
        try (Socket holder = new Socket("127.0.0.1", port);
                Socket waiting = new Socket("127.0.0.1", port)) {
            holder.getOutputStream().write(ascii("GET /nothing HTTP/1.1\r\nHost: x\r\n")); // never finished
            Thread.sleep(200);
            long started = System.nanoTime();
            waiting.getOutputStream().write(ascii("GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
            String answer = readAll(waiting);
            double seconds = (System.nanoTime() - started) / 1e9;
            assertTrue(answer.startsWith("HTTP/1.1 404"), answer);
            assertTrue(seconds > 0.8, "served after " + seconds + " s, before the held connection was cut");
            assertEquals("", readAll(holder));
        }
    }

    @Test
    void theFlagsReachTheConfig() {
        ProxyConfig c = ProxyMainTest.parse(
                        "--decode-servers-urls",
                        "http://d:1",
                        "--http-header-timeout",
                        "3",
                        "--http-body-timeout",
                        "4.5",
                        "--http-idle-timeout",
                        "7",
                        "--max-connections",
                        "9")
                .config();
        assertEquals(
                new ProxyConfig.ServerLimits(Duration.ofSeconds(3), Duration.ofMillis(4500), Duration.ofSeconds(7), 9),
                c.server());
        assertEquals(
                ProxyConfig.ServerLimits.DEFAULT,
                ProxyMainTest.parse("--decode-servers-urls", "http://d:1")
                        .config()
                        .server());
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** Everything until the proxy closes the connection (at most 15 s). */
    private static String readAll(Socket s) throws IOException {
        s.setSoTimeout(15_000);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        InputStream in = s.getInputStream();
        byte[] buf = new byte[4096];
        try {
            for (int n; (n = in.read(buf)) >= 0; ) {
                out.write(buf, 0, n);
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("still open after 15 s: " + out.toString(StandardCharsets.UTF_8), e);
        } catch (IOException reset) {
            // closed with a reset: also cut
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
