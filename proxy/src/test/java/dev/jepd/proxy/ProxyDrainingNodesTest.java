package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Routing;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A node that drains (JEPD's nodes on SIGTERM: every route, {@code /health} included, answers 503 OpenAI JSON with
 * {@code Retry-After} and {@code Connection: close}) costs no request: the request goes to another node of the same
 * role, and the draining node is evicted until its {@code /health} answers 200 again.
 */
class ProxyDrainingNodesTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final String TEXT =
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4%s}";
    private static final String DRAINING_BODY = "{\"error\":{\"message\":\"server is shutting down; retry on another"
            + " node\",\"type\":\"ServiceUnavailableError\",\"param\":null,\"code\":503}}";

    @RegisterExtension
    final TestResources open = new TestResources();

    /** Answers every route as a draining JEPD node does while {@code draining} is set, normally otherwise. */
    private static StubNode drainable(StubNode s, AtomicBoolean draining) {
        StubNode.Handler health = (r, ex) -> StubNode.respond(ex, 200, "text/plain", "");
        StubNode.Handler chat = (r, ex) -> {
            if (r.json().path("stream").asBoolean(false)) {
                StubNode.stream(
                        ex,
                        List.of(
                                "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n"
                                        .getBytes(StandardCharsets.UTF_8),
                                "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8)),
                        0);
            } else {
                StubNode.respond(ex, 200, "application/json", StubNode.chatCompletion("ok"));
            }
        };
        for (var e : List.of(java.util.Map.entry("/health", health), java.util.Map.entry(CHAT, chat))) {
            s.on(e.getKey(), (r, ex) -> {
                if (draining.get()) {
                    refuse(ex);
                } else {
                    e.getValue().handle(r, ex);
                }
            });
        }
        return s;
    }

    private static void refuse(HttpExchange ex) throws IOException {
        ex.getResponseHeaders().set("Retry-After", "5");
        ex.getResponseHeaders().set("Connection", "close");
        StubNode.respond(ex, 503, "application/json", DRAINING_BODY);
    }

    private ProxyHarness proxy(List<StubNode> e, List<StubNode> p, List<StubNode> d, ProxyConfig.Resilience r) {
        return open.proxy(new ProxyConfig(
                        "127.0.0.1",
                        0,
                        e.stream().map(s -> Node.parse("encode", s.url())).toList(),
                        p.stream().map(s -> Node.parse("prefill", s.url())).toList(),
                        d.stream().map(s -> Node.parse("decode", s.url())).toList(),
                        Routing.ROUND_ROBIN,
                        Duration.ofSeconds(20),
                        Duration.ofSeconds(2),
                        ProxyConfig.DEFAULT_MAX_BODY_BYTES)
                .with(r));
    }

    @Test
    void aDrainingDecodeNodeCostsNoRequestAndIsEvictedAfterItsFirst503() throws Exception {
        AtomicBoolean draining = new AtomicBoolean(true);
        StubNode gone = drainable(open.stub(), draining);
        StubNode d = drainable(open.stub(), new AtomicBoolean());
        ProxyHarness proxy = proxy(List.of(), List.of(), List.of(gone, d), ProxyHarness.QUIET);
        for (int i = 0; i < 20; i++) {
            boolean stream = i % 2 == 1;
            HttpResponse<byte[]> r = proxy.post(CHAT, TEXT.formatted(stream ? ",\"stream\":true" : ""));
            String body = new String(r.body(), StandardCharsets.UTF_8);
            assertEquals(200, r.statusCode(), body);
            assertTrue(body.contains("ok") && !body.contains("error"), body);
        }
        assertEquals(1, gone.received(CHAT).size(), "the draining node is asked once, then evicted");
        assertEquals(20, d.received(CHAT).size());
    }

    @Test
    void aDrainingNodeComesBackWhenItsHealthAnswers200Again() throws Exception {
        AtomicBoolean draining = new AtomicBoolean(true);
        StubNode restarting = drainable(open.stub(), draining);
        StubNode d = drainable(open.stub(), new AtomicBoolean());
        ProxyHarness proxy = proxy(
                List.of(),
                List.of(),
                List.of(restarting, d),
                new ProxyConfig.Resilience(Duration.ofMillis(200), 2, Duration.ZERO, null, null));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (restarting.received("/health").isEmpty() && System.nanoTime() < end) {
            HttpResponse<byte[]> r = proxy.post(CHAT, TEXT.formatted(""));
            assertEquals(200, r.statusCode(), new String(r.body(), StandardCharsets.UTF_8));
            Thread.sleep(50);
        }
        assertTrue(restarting.received("/health").size() >= 1, "a probe saw it draining");
        int before = restarting.received(CHAT).size();
        for (int i = 0; i < 6; i++) {
            assertEquals(200, proxy.post(CHAT, TEXT.formatted("")).statusCode());
        }
        assertEquals(before, restarting.received(CHAT).size(), "evicted while its /health says 503");
        draining.set(false); // the node restarted
        end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (restarting.received(CHAT).size() == before && System.nanoTime() < end) {
            assertEquals(200, proxy.post(CHAT, TEXT.formatted("")).statusCode());
            Thread.sleep(50);
        }
        assertTrue(restarting.received(CHAT).size() > before, "re-admitted once /health answered 200");
    }

    @Test
    void drainingEncodersAndPrefillNodesArePassedOverForTheirPeers() throws Exception {
        AtomicBoolean draining = new AtomicBoolean(true);
        StubNode e1 = drainable(open.stub(), draining);
        StubNode e2 = drainable(open.stub(), new AtomicBoolean());
        StubNode p1 = drainable(open.stub(), draining);
        StubNode p2 = open.stub().on(CHAT, (r, ex) -> StubNode.respond(ex, 200, "application/json", """
                {"id":"p","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,
                "message":{"role":"assistant","content":"x"},"finish_reason":"length"}],
                "kv_transfer_params":{"remote_engine_id":"p2"}}"""));
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(e1, e2), List.of(p1, p2), List.of(d), ProxyHarness.QUIET);
        for (int i = 0; i < 6; i++) {
            String body = """
                    {"model":"m","messages":[{"role":"user","content":[
                      {"type":"image_url","image_url":{"url":"%s"}},{"type":"text","text":"hi"}]}],"max_tokens":4}""".formatted(TestImages.dataUrl("png", 16 + 8 * i, 16));
            HttpResponse<byte[]> r = proxy.post(CHAT, body);
            assertEquals(200, r.statusCode(), new String(r.body(), StandardCharsets.UTF_8));
        }
        assertEquals(1, e1.received(CHAT).size(), "the draining encoder is asked once");
        assertEquals(6, e2.received(CHAT).size());
        assertEquals(1, p1.received(CHAT).size(), "the draining prefill node is asked once");
        assertEquals(6, p2.received(CHAT).size());
        for (StubNode.Received r : d.received(CHAT)) {
            assertEquals(
                    "p2", r.json().at("/kv_transfer_params/remote_engine_id").asText(), "P's KV reaches D");
        }
        assertEquals(6, d.received(CHAT).size());
        String counters = new String(proxy.get("/instances").body(), StandardCharsets.UTF_8);
        assertTrue(counters.contains("\"left_to_pd\":0"), counters);
    }
}
