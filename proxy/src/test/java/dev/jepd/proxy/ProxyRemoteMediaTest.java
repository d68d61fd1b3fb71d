package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.jepd.media.MediaConfig;
import dev.jepd.proxy.items.ItemUuids;
import dev.jepd.proxy.items.Modality;
import dev.jepd.proxy.upstream.Routing;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Through the proxy a remote image is fetched once: by the proxy, under the nodes' rules, and handed to the encoder
 * and the decode node as a {@code data:} URL of the same bytes; the nodes never fetch it. A real HTTP image server
 * on loopback counts the fetches.
 */
class ProxyRemoteMediaTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final byte[] PNG = TestImages.encode("png", 64, 48);

    @RegisterExtension
    final TestResources open = new TestResources();

    private HttpServer images;
    private final AtomicInteger fetches = new AtomicInteger();

    @BeforeEach
    void startImageServer() throws Exception {
        images = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        images.createContext("/", ex -> {
            fetches.incrementAndGet();
            byte[] body = ex.getRequestURI().getPath().equals("/cat.png")
                    ? PNG
                    : "# HELP internal_metric secret".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(ex.getRequestURI().getPath().equals("/cat.png") ? 200 : 404, body.length);
            try (OutputStream os = ex.getResponseBody()) {
                os.write(body);
            }
        });
        images.start();
    }

    @AfterEach
    void stopImageServer() {
        images.stop(0);
    }

    private String url(String path) {
        return "http://127.0.0.1:" + images.getAddress().getPort() + path;
    }

    private static String request(String... urls) {
        StringBuilder parts = new StringBuilder();
        for (String u : urls) {
            parts.append("{\"type\":\"image_url\",\"image_url\":{\"url\":\"")
                    .append(u)
                    .append("\"}},");
        }
        return "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[" + parts
                + "{\"type\":\"text\",\"text\":\"hi\"}]}],\"max_tokens\":4}";
    }

    private ProxyHarness proxy(StubNode e, StubNode d, MediaConfig remoteMedia) {
        return open.proxy(
                ProxyHarness.config(List.of(e), List.of(), List.of(d), Routing.ROUND_ROBIN, Duration.ofSeconds(10))
                        .with(ProxyHarness.QUIET)
                        .withRemoteMedia(remoteMedia));
    }

    private static List<String> imageUrls(JsonNode body) {
        List<String> urls = new ArrayList<>();
        for (JsonNode part : body.get("messages").get(0).get("content")) {
            if (part.has("image_url")) {
                urls.add(part.get("image_url").get("url").asText());
            }
        }
        return urls;
    }

    private static byte[] payload(String dataUrl) {
        assertTrue(dataUrl.startsWith("data:image/png;base64,"), dataUrl.substring(0, Math.min(40, dataUrl.length())));
        return Base64.getDecoder().decode(dataUrl.substring(dataUrl.indexOf(',') + 1));
    }

    @Test
    void aRemoteImageIsFetchedOnceAtTheProxyAndEveryNodeGetsItsBytesInline() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(e, d, MediaConfig.defaults().withAllowPrivateNetworks(true));
        String cat = url("/cat.png");

        HttpResponse<byte[]> r = proxy.post(CHAT, request(cat, cat));

        assertEquals(200, r.statusCode(), new String(r.body(), StandardCharsets.UTF_8));
        assertEquals(1, fetches.get(), "the same URL twice in one request: one fetch, and none by the nodes");
        List<String> atDecode = imageUrls(d.received(CHAT).getFirst().json());
        assertEquals(2, atDecode.size());
        for (String u : atDecode) {
            assertArrayEquals(PNG, payload(u), "the decode node gets the fetched bytes");
        }
        assertFalse(e.received(CHAT).isEmpty());
        for (StubNode.Received call : e.received(CHAT)) {
            for (String u : imageUrls(call.json())) {
                assertArrayEquals(PNG, payload(u), "the encoder gets the same bytes");
            }
        }
        JsonNode first = d.received(CHAT)
                .getFirst()
                .json()
                .get("messages")
                .get(0)
                .get("content")
                .get(0);
        assertEquals(
                ItemUuids.derive("m", Modality.IMAGE, cat),
                first.get("uuid").asText(),
                "the uuid still follows the URL the client sent");
    }

    @Test
    void byDefaultALoopbackImageUrlIsRefusedAtTheProxyAndNoNodeIsAsked() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(e, d, MediaConfig.defaults());

        HttpResponse<byte[]> r = proxy.post(CHAT, request(url("/cat.png")));

        assertTrue(r.statusCode() >= 400 && r.statusCode() < 500, "status " + r.statusCode());
        JsonNode error = ProxyHarness.json(r).get("error");
        assertEquals("messages[0].content[0].image_url.url", error.get("param").asText());
        assertEquals(0, fetches.get(), "never fetched");
        assertTrue(e.received.isEmpty() && d.received.isEmpty(), "no node is asked");
    }

    @Test
    void aFailedFetchIsAClientErrorThatNeverQuotesWhatTheServerSent() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(e, d, MediaConfig.defaults().withAllowPrivateNetworks(true));

        HttpResponse<byte[]> r = proxy.post(CHAT, request(url("/metrics")));

        assertEquals(400, r.statusCode());
        String body = new String(r.body(), StandardCharsets.UTF_8);
        assertFalse(body.contains("HELP") || body.contains("secret"), body);
        assertEquals(1, fetches.get());
        assertTrue(e.received.isEmpty() && d.received.isEmpty(), "no node is asked");
    }

    @Test
    void withForwardMediaUrlsTheNodesGetTheUrlAsItCame() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(e, d, null);
        String cat = url("/cat.png");

        assertEquals(200, proxy.post(CHAT, request(cat)).statusCode());

        assertEquals(List.of(cat), imageUrls(d.received(CHAT).getFirst().json()));
        assertEquals(0, fetches.get(), "the proxy fetched nothing (the stub nodes never fetch)");
    }
}
