package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.proxy.items.ItemUuids;
import dev.jepd.proxy.items.Modality;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A chat request through the real proxy to stub E / P / D nodes over loopback HTTP. */
class ProxyChatFlowTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final Pattern CHILD_ID = Pattern.compile("parent-1:(\\d+):[0-9a-f]{6}");

    @RegisterExtension
    final TestResources open = new TestResources();

    private ProxyHarness proxy(List<StubNode> e, List<StubNode> p, List<StubNode> d) {
        return open.add(ProxyHarness.start(e, p, d));
    }

    static final String PNG = TestImages.dataUrl("png", 64, 48);
    static final String REMOTE = "http://images.example/cat.jpg";

    static String twoImageRequest(boolean stream) {
        return """
                {"model":"Qwen/Qwen2.5-VL-3B-Instruct","messages":[
                  {"role":"system","content":"You are helpful."},
                  {"role":"user","content":[
                    {"type":"image_url","image_url":{"url":"%s"}},
                    {"type":"text","text":"Compare"},
                    {"type":"image_url","image_url":{"url":"%s"}}]}],
                 "max_tokens":8,"stream":%s}""".formatted(PNG, REMOTE, stream);
    }

    @Test
    void eachImageGoesAloneToAnEncoderWithAUuidThenTheDecodeNodeGetsTheSameUuids() throws Exception {
        StubNode e1 = open.stub();
        StubNode e2 = open.stub();
        StubNode d = open.stub();
        d.on(CHAT, (r, ex) -> StubNode.respond(ex, 200, "application/json", StubNode.chatCompletion("from-d")));
        ProxyHarness proxy = proxy(List.of(e1, e2), List.of(), List.of(d));

        HttpResponse<byte[]> r = proxy.post(CHAT, twoImageRequest(false), "x-request-id", "parent-1");

        assertEquals(200, r.statusCode(), ProxyHarness.text(r));
        assertEquals(StubNode.chatCompletion("from-d"), ProxyHarness.text(r), "D's body passes through verbatim");
        assertEquals("parent-1", r.headers().firstValue("x-request-id").orElseThrow());

        // Round-robin: one image per encoder, each alone, in DESIGN §4.3's exact shape.
        assertEquals(1, e1.received(CHAT).size());
        assertEquals(1, e2.received(CHAT).size());
        List<StubNode.Received> encoderRequests = new ArrayList<>(e1.received(CHAT));
        encoderRequests.addAll(e2.received(CHAT));
        String model = "Qwen/Qwen2.5-VL-3B-Instruct";
        List<String> urls = List.of(PNG, REMOTE);
        for (StubNode.Received er : encoderRequests) {
            var m = CHILD_ID.matcher(er.header("x-request-id"));
            assertTrue(m.matches(), er.header("x-request-id"));
            int idx = Integer.parseInt(m.group(1));
            String url = urls.get(idx);
            ObjectNode expected = (ObjectNode)
                    StubNode.JSON.readTree("""
                    {"model":"%s","messages":[{"role":"user","content":[
                      {"type":"image_url","image_url":{"url":"%s"},"uuid":"%s"}]}],
                     "max_tokens":1,"stream":false}""".formatted(model, url, ItemUuids.derive(model, Modality.IMAGE, url)));
            assertEquals(expected, er.json());
        }

        // D: the original body, unchanged but for the uuids, with the parent id.
        StubNode.Received dr = d.received(CHAT).getFirst();
        assertEquals("parent-1", dr.header("x-request-id"));
        JsonNode expectedD = StubNode.JSON.readTree(twoImageRequest(false));
        ArrayNode content = (ArrayNode) expectedD.get("messages").get(1).get("content");
        ((ObjectNode) content.get(0)).put("uuid", ItemUuids.derive(model, Modality.IMAGE, PNG));
        ((ObjectNode) content.get(2)).put("uuid", ItemUuids.derive(model, Modality.IMAGE, REMOTE));
        assertEquals(expectedD, dr.json());
        for (StubNode.Received er : encoderRequests) {
            assertTrue(er.seq() < dr.seq(), "every encoder request before decode");
        }
    }

    @Test
    void theSameImageMapsToTheSameUuidAcrossRequestsAndIsEncodedOncePerRequest() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(e), List.of(), List.of(d));
        String body = """
                {"model":"m","messages":[{"role":"user","content":[
                  {"type":"image_url","image_url":{"url":"%s"}},
                  {"type":"image_url","image_url":{"url":"%s"}}]}]}""".formatted(PNG, PNG);

        assertEquals(200, proxy.post(CHAT, body).statusCode());
        assertEquals(200, proxy.post(CHAT, body).statusCode());

        assertEquals(2, e.received(CHAT).size(), "one encoder request per request: the repeat is deduplicated");
        String uuid = ItemUuids.derive("m", Modality.IMAGE, PNG);
        for (StubNode.Received dr : d.received(CHAT)) {
            JsonNode content = dr.json().get("messages").get(0).get("content");
            assertEquals(uuid, content.get(0).get("uuid").asText());
            assertEquals(uuid, content.get(1).get("uuid").asText());
        }
        assertNotEquals(uuid, ItemUuids.derive("other-model", Modality.IMAGE, PNG), "the model is part of the key");
        assertTrue(ItemUuids.isValid(uuid));
    }

    @Test
    void aClientUuidIsKeptAndOtherImageSpellingsAreFound() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(e), List.of(), List.of(d));
        String body = """
                {"model":"m","messages":[{"role":"user","content":[
                  {"type":"image_url","image_url":{"url":"%s"},"uuid":"my-key.1"},
                  {"type":"image_url","image_url":"http://x/string-form.png"},
                  {"type":"input_image","image_url":"http://x/responses-form.png"},
                  {"image_url":{"url":"http://x/untyped.png"}},
                  "a plain string is a text part"]}]}""".formatted(PNG);

        assertEquals(200, proxy.post(CHAT, body).statusCode());

        List<JsonNode> parts = e.received(CHAT).stream()
                .map(r -> r.json().get("messages").get(0).get("content").get(0))
                .toList();
        assertEquals(4, parts.size(), "four images; the text part is not sent");
        JsonNode dContent =
                d.received(CHAT).getFirst().json().get("messages").get(0).get("content");
        assertEquals("my-key.1", dContent.get(0).get("uuid").asText());
        assertEquals(
                ItemUuids.derive("m", Modality.IMAGE, "http://x/string-form.png"),
                dContent.get(1).get("uuid").asText());
        assertEquals(
                ItemUuids.derive("m", Modality.IMAGE, "http://x/responses-form.png"),
                dContent.get(2).get("uuid").asText());
        assertEquals(
                ItemUuids.derive("m", Modality.IMAGE, "http://x/untyped.png"),
                dContent.get(3).get("uuid").asText());
        assertEquals("a plain string is a text part", dContent.get(4).asText());
        for (JsonNode part : parts) {
            assertTrue(
                    dContent.findValuesAsText("uuid").contains(part.get("uuid").asText()));
        }
    }

    @Test
    void anInvalidClientUuidIsA400() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(e), List.of(), List.of(d));
        String body = """
                {"model":"m","messages":[{"role":"user","content":[
                  {"type":"image_url","image_url":{"url":"http://x/a.png"},"uuid":"../../etc"}]}]}""";

        HttpResponse<byte[]> r = proxy.post(CHAT, body);

        assertEquals(400, r.statusCode());
        JsonNode err = ProxyHarness.json(r).get("error");
        assertEquals("BadRequestError", err.get("type").asText());
        assertEquals("messages[0].content[0].uuid", err.get("param").asText());
        assertEquals(0, e.received.size() + d.received.size());
    }

    @Test
    void aTextOnlyRequestSkipsTheEncodersAndReachesDecodeByteForByte() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = proxy(List.of(e), List.of(), List.of(d));
        String body = "{\"model\":\"m\",  \"messages\":[{\"role\":\"user\",\"content\":\"hi \\u00e9\"}]}";

        HttpResponse<byte[]> r = proxy.post(CHAT, body);

        assertEquals(200, r.statusCode());
        assertTrue(e.received.isEmpty(), "no encoder call for text");
        assertEquals(body, new String(d.received(CHAT).getFirst().body(), StandardCharsets.UTF_8));
        String generated = r.headers().firstValue("x-request-id").orElseThrow();
        assertEquals(generated, d.received(CHAT).getFirst().header("x-request-id"), "a generated id is echoed");
    }

    @Test
    void epdSendsKvTransferParamsToPrefillAndItsAnswerVerbatimToDecode() throws Exception {
        StubNode e = open.stub();
        StubNode p1 = open.stub();
        StubNode p2 = open.stub();
        StubNode d1 = open.stub();
        StubNode d2 = open.stub();
        String kv = """
                {"do_remote_prefill":true,"do_remote_decode":false,"remote_engine_id":"engine-7",\
                "remote_block_ids":[4,5,6],"remote_request_id":"parent-1","remote_host":"10.0.0.2",\
                "remote_port":5600,"tp_size":1}""";
        for (StubNode p : List.of(p1, p2)) {
            p.on(CHAT, (r, ex) -> StubNode.respond(ex, 200, "application/json", """
                    {"id":"x","object":"chat.completion","choices":[],"kv_transfer_params":%s}""".formatted(kv)));
        }
        ProxyHarness proxy = proxy(List.of(e), List.of(p1, p2), List.of(d1, d2));
        String request = """
                {"model":"m","messages":[{"role":"user","content":[
                  {"type":"image_url","image_url":{"url":"%s"}},{"type":"text","text":"what?"}]}],
                 "max_tokens":50,"max_completion_tokens":50,"stream":false,"temperature":0}""".formatted(PNG);

        for (int i = 0; i < 2; i++) {
            HttpResponse<byte[]> r = proxy.post(CHAT, request, "x-request-id", "parent-" + i);
            assertEquals(200, r.statusCode(), ProxyHarness.text(r));
        }

        // Two P and two D nodes: round-robin puts one request on each.
        for (StubNode n : List.of(p1, p2, d1, d2)) {
            assertEquals(1, n.received(CHAT).size());
        }
        String uuid = ItemUuids.derive("m", Modality.IMAGE, PNG);
        for (int i = 0; i < 2; i++) {
            StubNode.Received pr = (i == 0 ? p1 : p2).received(CHAT).getFirst();
            StubNode.Received dr = (i == 0 ? d1 : d2).received(CHAT).getFirst();
            StubNode.Received er = e.received(CHAT).get(i);
            assertTrue(er.seq() < pr.seq() && pr.seq() < dr.seq(), "E, then P, then D");
            assertEquals("parent-" + i, pr.header("x-request-id"));
            assertEquals("parent-" + i, dr.header("x-request-id"), "the same id to P and D");

            ObjectNode original = (ObjectNode) StubNode.JSON.readTree(request);
            ((ObjectNode) original.get("messages").get(0).get("content").get(0)).put("uuid", uuid);

            ObjectNode expectedP = original.deepCopy();
            expectedP.set("kv_transfer_params", StubNode.JSON.readTree("""
                    {"do_remote_decode":true,"do_remote_prefill":false,"remote_engine_id":null,
                     "remote_block_ids":null,"remote_host":null,"remote_port":null}"""));
            expectedP.put("stream", false);
            expectedP.put("max_tokens", 1);
            expectedP.put("max_completion_tokens", 1);
            expectedP.remove("stream_options");
            assertEquals(expectedP, pr.json());

            ObjectNode expectedD = original.deepCopy();
            expectedD.set("kv_transfer_params", StubNode.JSON.readTree(kv));
            assertEquals(expectedD, dr.json(), "D: the original body plus P's params verbatim");
        }
    }

    @Test
    void completionsGoThroughPrefillAndDecodeWithoutEncoders() throws Exception {
        StubNode e = open.stub();
        StubNode p = open.stub();
        StubNode d = open.stub();
        p.on("/v1/completions", (r, ex) -> StubNode.respond(ex, 200, "application/json", """
                {"id":"c","object":"text_completion","choices":[],"kv_transfer_params":{"remote_block_ids":[1]}}"""));
        d.on("/v1/completions", (r, ex) -> StubNode.respond(ex, 200, "application/json", """
                {"id":"c","object":"text_completion","choices":[{"index":0,"text":"!","finish_reason":"length"}]}"""));
        ProxyHarness proxy = proxy(List.of(e), List.of(p), List.of(d));

        HttpResponse<byte[]> r = proxy.post(
                "/v1/completions", "{\"model\":\"m\",\"prompt\":\"Hello\",\"max_tokens\":4}", "x-request-id", "c-1");

        assertEquals(200, r.statusCode(), ProxyHarness.text(r));
        assertEquals("!", ProxyHarness.json(r).get("choices").get(0).get("text").asText());
        assertTrue(e.received.isEmpty());
        JsonNode pBody = p.received("/v1/completions").getFirst().json();
        assertEquals(1, pBody.get("max_tokens").asInt());
        assertTrue(pBody.get("kv_transfer_params").get("do_remote_decode").asBoolean());
        JsonNode dBody = d.received("/v1/completions").getFirst().json();
        assertEquals(4, dBody.get("max_tokens").asInt());
        assertEquals(
                "[1]", dBody.get("kv_transfer_params").get("remote_block_ids").toString());
        assertEquals("c-1", d.received("/v1/completions").getFirst().header("x-request-id"));
    }
}
