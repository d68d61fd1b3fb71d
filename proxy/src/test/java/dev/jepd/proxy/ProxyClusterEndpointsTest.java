package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Routing;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code /health}, {@code /v1/models} and the profile fan-out. */
class ProxyClusterEndpointsTest {
    @RegisterExtension
    final TestResources open = new TestResources();

    @Test
    void healthReportsEachClusterAndIs503WhenOneIsUnhealthy() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness healthy = open.proxy(
                ProxyHarness.config(List.of(e), List.of(), List.of(d), Routing.ROUND_ROBIN, Duration.ofSeconds(30)));

        HttpResponse<byte[]> ok = healthy.get("/health");
        assertEquals(200, ok.statusCode());
        JsonNode okBody = ProxyHarness.json(ok);
        assertEquals(StubNode.JSON.readTree("""
                        {"proxy":"healthy","encode_cluster":"healthy","prefill_cluster":"empty",
                         "decode_cluster":"healthy"}"""), withoutNodes(okBody));
        assertEquals(e.url(), okBody.at("/nodes/encode/0/url").asText());
        assertEquals("healthy", okBody.at("/nodes/encode/0/status").asText());
        assertEquals(1, e.received("/health").size());

        String dead;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            dead = "http://127.0.0.1:" + s.getLocalPort();
        }
        StubNode sick = open.stub().on("/health", (r, ex) -> StubNode.respond(ex, 500, "text/plain", "no"));
        ProxyHarness broken = open.proxy(new ProxyConfig(
                "127.0.0.1",
                0,
                List.of(Node.parse("encode", e.url()), Node.parse("encode", dead)),
                List.of(Node.parse("prefill", sick.url())),
                List.of(Node.parse("decode", d.url())),
                Routing.ROUND_ROBIN,
                Duration.ofSeconds(30),
                Duration.ofSeconds(2),
                ProxyConfig.DEFAULT_MAX_BODY_BYTES));

        HttpResponse<byte[]> bad = broken.get("/health");
        assertEquals(503, bad.statusCode());
        JsonNode badBody = ProxyHarness.json(bad);
        assertEquals(StubNode.JSON.readTree("""
                        {"proxy":"healthy","encode_cluster":"degraded","prefill_cluster":"unhealthy",
                         "decode_cluster":"healthy"}"""), withoutNodes(badBody));
        assertEquals("healthy", badBody.at("/nodes/encode/0/status").asText());
        assertEquals(dead, badBody.at("/nodes/encode/1/url").asText());
        assertEquals("unhealthy", badBody.at("/nodes/encode/1/status").asText());
    }

    private static JsonNode withoutNodes(JsonNode health) {
        com.fasterxml.jackson.databind.node.ObjectNode copy = health.deepCopy();
        copy.remove("nodes");
        return copy;
    }

    @Test
    void modelsComeFromTheFirstDecodeNode() throws Exception {
        String models =
                "{\"object\":\"list\",\"data\":[{\"id\":\"Qwen/Qwen2.5-VL-3B-Instruct\",\"object\":\"model\"}]}";
        StubNode d1 = open.stub().on("/v1/models", (r, ex) -> StubNode.respond(ex, 200, "application/json", models));
        StubNode d2 = open.stub();
        ProxyHarness proxy = open.proxy(ProxyHarness.config(
                List.of(), List.of(), List.of(d1, d2), Routing.ROUND_ROBIN, Duration.ofSeconds(30)));

        HttpResponse<byte[]> r = proxy.get("/v1/models");

        assertEquals(200, r.statusCode());
        assertEquals(models, ProxyHarness.text(r));
        assertTrue(d2.received.isEmpty());
    }

    @Test
    void profileCommandsReachEveryNode() throws Exception {
        List<StubNode> nodes = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            StubNode n = open.stub();
            n.on("/start_profile", (r, ex) -> StubNode.respond(ex, 200, "application/json", ""));
            n.on("/stop_profile", (r, ex) -> StubNode.respond(ex, 200, "application/json", "{\"ok\":true}"));
            nodes.add(n);
        }
        ProxyHarness proxy = open.proxy(ProxyHarness.config(
                nodes.subList(0, 2),
                nodes.subList(2, 3),
                nodes.subList(3, 5),
                Routing.ROUND_ROBIN,
                Duration.ofSeconds(30)));

        HttpResponse<byte[]> start = proxy.post("/start_profile", "", "Authorization", "Bearer k");
        HttpResponse<byte[]> stop = proxy.post("/stop_profile", "{}");

        assertEquals(200, start.statusCode(), ProxyHarness.text(start));
        assertEquals(200, stop.statusCode(), ProxyHarness.text(stop));
        for (StubNode n : nodes) {
            assertEquals(1, n.received("/start_profile").size());
            assertEquals(1, n.received("/stop_profile").size());
            assertEquals("Bearer k", n.received("/start_profile").getFirst().header("Authorization"));
        }
        JsonNode result = ProxyHarness.json(stop);
        assertEquals(2, result.get("encode").size());
        assertEquals(1, result.get("prefill").size());
        assertEquals(2, result.get("decode").size());
        assertEquals(nodes.get(3).url(), result.get("decode").get(0).get("url").asText());
        assertTrue(result.get("decode").get(0).get("body").get("ok").asBoolean());
    }

    @Test
    void profilingDisabledEverywhereIsA503() throws Exception {
        StubNode d = open.stub(); // answers 404 to /start_profile
        ProxyHarness proxy = open.proxy(
                ProxyHarness.config(List.of(), List.of(), List.of(d), Routing.ROUND_ROBIN, Duration.ofSeconds(30)));

        HttpResponse<byte[]> r = proxy.post("/start_profile", "{}");

        assertEquals(503, r.statusCode());
        assertEquals(
                "Profiling endpoints are disabled on all clusters",
                ProxyHarness.json(r).get("error").get("message").asText());
    }
}
