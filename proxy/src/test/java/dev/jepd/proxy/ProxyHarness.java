package dev.jepd.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Routing;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/** The real proxy on a loopback port in front of stub nodes, and a plain HTTP client to talk to it. */
final class ProxyHarness implements AutoCloseable {
    static final HttpClient CLIENT = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();

    final ProxyServer proxy;

    /**
     * Stub nodes record every request, so tests that count them get no health probes (a beat of an hour) and no
     * dedup window unless they ask for them with {@link ProxyConfig#with}.
     */
    static final ProxyConfig.Resilience QUIET =
            new ProxyConfig.Resilience(Duration.ofHours(1), 2, Duration.ZERO, null, null);

    ProxyHarness(ProxyConfig config) {
        this.proxy =
                ProxyServer.start(config.resilience() == ProxyConfig.Resilience.DEFAULT ? config.with(QUIET) : config);
    }

    static ProxyConfig config(
            List<StubNode> e, List<StubNode> p, List<StubNode> d, Routing routing, Duration upstreamTimeout) {
        return new ProxyConfig(
                        "127.0.0.1",
                        0,
                        nodes("encode", e),
                        nodes("prefill", p),
                        nodes("decode", d),
                        routing,
                        upstreamTimeout,
                        Duration.ofSeconds(2),
                        ProxyConfig.DEFAULT_MAX_BODY_BYTES)
                .withRemoteMedia(null); // the flow tests' remote URLs name no server: forwarded (ProxyRemoteMediaTest)
    }

    static ProxyHarness start(List<StubNode> e, List<StubNode> p, List<StubNode> d) {
        return new ProxyHarness(config(e, p, d, Routing.ROUND_ROBIN, Duration.ofSeconds(30)));
    }

    private static List<Node> nodes(String role, List<StubNode> stubs) {
        return stubs.stream().map(s -> Node.parse(role, s.url())).toList();
    }

    String url() {
        return "http://127.0.0.1:" + proxy.port();
    }

    HttpResponse<byte[]> post(String path, String body, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url() + path))
                .timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    HttpResponse<byte[]> get(String path) throws IOException, InterruptedException {
        return CLIENT.send(
                HttpRequest.newBuilder(URI.create(url() + path))
                        .timeout(Duration.ofSeconds(60))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
    }

    static JsonNode json(HttpResponse<byte[]> r) throws IOException {
        return StubNode.JSON.readTree(r.body());
    }

    static String text(HttpResponse<byte[]> r) {
        return new String(r.body(), StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        proxy.close();
    }
}
