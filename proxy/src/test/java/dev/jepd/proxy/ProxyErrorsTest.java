package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Routing;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every failure reaches the client as OpenAI error JSON with the right status, within a bounded time. */
class ProxyErrorsTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final String IMAGE_REQUEST = """
            {"model":"m","messages":[{"role":"user","content":[
              {"type":"image_url","image_url":{"url":"%s"}},{"type":"text","text":"?"}]}]}""".formatted(TestImages.dataUrl("png", 8, 8));

    @RegisterExtension
    final TestResources open = new TestResources();

    private ProxyHarness proxy(List<StubNode> e, List<StubNode> p, List<StubNode> d) {
        return open.proxy(ProxyHarness.config(e, p, d, Routing.ROUND_ROBIN, Duration.ofSeconds(30)));
    }

    private static JsonNode error(HttpResponse<byte[]> r) throws Exception {
        assertEquals("application/json", r.headers().firstValue("Content-Type").orElseThrow());
        JsonNode body = ProxyHarness.json(r);
        JsonNode err = body.get("error");
        assertTrue(err != null && err.has("message") && err.has("type") && err.has("param"), body.toString());
        assertEquals(r.statusCode(), err.get("code").asInt());
        return err;
    }

    private static String closedPortUrl() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return "http://127.0.0.1:" + s.getLocalPort();
        }
    }

    @Test
    void malformedJsonIsA400() throws Exception {
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(), List.of(), List.of(d));

        HttpResponse<byte[]> r = proxy.post(CHAT, "{\"model\": \"m\", \"messages\": [");
        assertEquals(400, r.statusCode());
        assertEquals("BadRequestError", error(r).get("type").asText());

        assertEquals(400, proxy.post(CHAT, "[1,2]").statusCode(), "not an object");
        assertEquals(400, proxy.post("/v1/completions", "").statusCode(), "empty");
        assertTrue(d.received.isEmpty());
    }

    /** The proxy checks a body with the nodes' own schema: a wrong type is its 400, naming the field. */
    @Test
    void aWrongFieldTypeIsA400NamingItBeforeAnyNodeIsAsked() throws Exception {
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(), List.of(), List.of(d));

        HttpResponse<byte[]> r = proxy.post(
                CHAT,
                "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
                        + " \"stream\": {\"no\": 1}}");
        assertEquals(400, r.statusCode());
        assertEquals("stream", error(r).get("param").asText());
        HttpResponse<byte[]> c = proxy.post("/v1/completions", "{\"model\": \"m\", \"prompt\": \"x\", \"n\": 2}");
        assertEquals(400, c.statusCode());
        assertEquals("n", error(c).get("param").asText());
        assertTrue(d.received.isEmpty());

        // A lax value pydantic accepts is forwarded in its canonical form, as the nodes would read it.
        HttpResponse<byte[]> lax = proxy.post(
                CHAT,
                "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
                        + " \"max_tokens\": \"7\"}");
        assertEquals(200, lax.statusCode(), ProxyHarness.text(lax));
        assertEquals(7, d.received(CHAT).getFirst().json().get("max_tokens").asInt());
        assertTrue(d.received(CHAT).getFirst().json().get("max_tokens").isInt());
    }

    @Test
    void aDeadEncoderLeavesTheImageToTheDecodeNodeQuickly() throws Exception {
        StubNode d = open.stub();
        String dead = closedPortUrl();
        ProxyHarness proxy = open.proxy(new ProxyConfig(
                "127.0.0.1",
                0,
                List.of(Node.parse("encode", dead)),
                List.of(),
                List.of(Node.parse("decode", d.url())),
                Routing.ROUND_ROBIN,
                Duration.ofSeconds(60),
                Duration.ofSeconds(2),
                ProxyConfig.DEFAULT_MAX_BODY_BYTES));

        long t0 = System.nanoTime();
        HttpResponse<byte[]> r = proxy.post(CHAT, IMAGE_REQUEST);
        long millis = (System.nanoTime() - t0) / 1_000_000;

        assertEquals(200, r.statusCode(), ProxyHarness.text(r));
        assertTrue(millis < 10_000, "a refused connection fails over at once, not after 60 s: " + millis + " ms");
        assertEquals(1, d.received(CHAT).size(), "the decode node encodes the image itself");
        assertTrue(
                d.received(CHAT)
                        .getFirst()
                        .json()
                        .at("/messages/0/content/0/uuid")
                        .isTextual(),
                "with the uuid stamped, so that its EC key is what an encoder would have written");
        JsonNode health = ProxyHarness.json(proxy.get("/instances"));
        assertFalse(health.at("/encode/0/routable").asBoolean(), "the dead encoder is evicted: " + health);
    }

    @Test
    void aHangingEncoderIsGivenUpAfterTheUpstreamTimeout() throws Exception {
        StubNode e = open.stub();
        e.hang(CHAT);
        StubNode d = open.stub();
        ProxyHarness proxy = open.proxy(
                ProxyHarness.config(List.of(e), List.of(), List.of(d), Routing.ROUND_ROBIN, Duration.ofMillis(700)));

        long t0 = System.nanoTime();
        HttpResponse<byte[]> r = proxy.post(CHAT, IMAGE_REQUEST);
        long millis = (System.nanoTime() - t0) / 1_000_000;

        assertEquals(200, r.statusCode());
        assertTrue(millis >= 700 && millis < 10_000, "took " + millis + " ms");
        assertEquals(1, d.received(CHAT).size());
    }

    @Test
    void anEncoderThatRejectsTheImagePassesItsStatusAndBodyThrough() throws Exception {
        String rejection = "{\"error\":{\"message\":\"cannot identify image file\",\"type\":\"BadRequestError\","
                + "\"param\":null,\"code\":400}}";
        StubNode e = open.stub().on(CHAT, (r, ex) -> StubNode.respond(ex, 400, "application/json", rejection));
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(e), List.of(), List.of(d));

        HttpResponse<byte[]> r = proxy.post(CHAT, IMAGE_REQUEST);

        assertEquals(400, r.statusCode());
        assertEquals(StubNode.JSON.readTree(rejection), ProxyHarness.json(r));
        assertTrue(d.received.isEmpty());
    }

    @Test
    void anEncoder5xxIsRetriedOnAnotherEncoder() throws Exception {
        StubNode bad =
                open.stub().on(CHAT, (r, ex) -> StubNode.respond(ex, 500, "text/plain", "Internal Server Error"));
        StubNode good = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(bad, good), List.of(), List.of(d));

        for (int i = 0; i < 4; i++) {
            HttpResponse<byte[]> r = proxy.post(CHAT, IMAGE_REQUEST);
            assertEquals(200, r.statusCode());
        }
        assertEquals(4, good.received(CHAT).size(), "every item ended on the good encoder");
        assertEquals(4, d.received(CHAT).size());
    }

    @Test
    void prefillFailuresLeaveThePrefillToDecodeAndDecodeFailuresAreErrorsOnlyWhenNoneIsLeft() throws Exception {
        StubNode p = open.stub().on(CHAT, (r, ex) -> StubNode.respond(ex, 503, "application/json", "{}"));
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(), List.of(p), List.of(d));
        String text = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

        HttpResponse<byte[]> r = proxy.post(CHAT, text);
        assertEquals(200, r.statusCode(), "the decode node prefills itself");
        assertEquals(1, d.received(CHAT).size());
        assertFalse(d.received(CHAT).getFirst().json().has("kv_transfer_params"));

        StubNode d2 = open.stub()
                .on(
                        CHAT,
                        (q, ex) -> StubNode.respond(
                                ex,
                                422,
                                "application/json",
                                "{\"error\":{\"message\":\"bad\",\"type\":\"BadRequestError\",\"param\":null,\"code\":422}}"));
        ProxyHarness proxy2 = proxy(List.of(), List.of(), List.of(d2));
        HttpResponse<byte[]> r2 = proxy2.post(CHAT, text);
        assertEquals(422, r2.statusCode(), "a decode 4xx passes through");
        assertEquals("bad", error(r2).get("message").asText());

        ProxyHarness proxy3 = open.proxy(new ProxyConfig(
                "127.0.0.1",
                0,
                List.of(),
                List.of(),
                List.of(Node.parse("decode", closedPortUrl())),
                Routing.ROUND_ROBIN,
                Duration.ofSeconds(30),
                Duration.ofSeconds(2),
                1024));
        assertEquals(502, proxy3.post(CHAT, text).statusCode());
        HttpResponse<byte[]> big = proxy3.post(CHAT, "{\"pad\":\"" + "x".repeat(2000) + "\"}");
        assertEquals(413, big.statusCode());
        error(big);
    }

    @Test
    void unknownRoutesAreJson404s() throws Exception {
        ProxyHarness proxy = proxy(List.of(), List.of(), List.of(open.stub()));

        HttpResponse<byte[]> r = proxy.get("/v1/nope");

        assertEquals(404, r.statusCode());
        assertEquals("NotFoundError", error(r).get("type").asText());
    }
}
