package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.proxy.items.ItemUuids;
import dev.jepd.proxy.items.Modality;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The encoders' {@code ec_transfer_params} travel to the node that prefills, verbatim, as P's
 * {@code kv_transfer_params} travel to D; an encoder that answers without them adds nothing.
 */
class ProxyEcTransferParamsTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final String PNG = ProxyChatFlowTest.PNG;
    private static final String REMOTE = ProxyChatFlowTest.REMOTE;

    @RegisterExtension
    final TestResources open = new TestResources();

    /** An encoder whose answer carries {@code ec_transfer_params} naming the item it was sent. */
    private StubNode encoderAnsweringWithParams() throws Exception {
        StubNode e = open.stub();
        e.on(CHAT, (r, ex) -> {
            String uuid = r.json().at("/messages/0/content/0/uuid").asText();
            StubNode.respond(ex, 200, "application/json", """
                    {"id":"e","object":"chat.completion","choices":[],
                     "ec_transfer_params":{"%s":{"engine_id":"enc-1","addr":[7,8],"shape":[16,2048]}}}""".formatted(uuid));
        });
        return e;
    }

    @Test
    void onePdNodeGetsTheEncodersParamsVerbatim() throws Exception {
        StubNode e = encoderAnsweringWithParams();
        StubNode d = open.stub();
        ProxyHarness proxy = open.add(ProxyHarness.start(List.of(e), List.of(), List.of(d)));
        String request = """
                {"model":"m","messages":[{"role":"user","content":[
                  {"type":"image_url","image_url":{"url":"%s"}},{"type":"text","text":"what?"}]}]}""".formatted(PNG);

        HttpResponse<byte[]> r = proxy.post(CHAT, request);

        assertEquals(200, r.statusCode(), ProxyHarness.text(r));
        String uuid = ItemUuids.derive("m", Modality.IMAGE, PNG);
        ObjectNode expected = (ObjectNode) StubNode.JSON.readTree(request);
        ((ObjectNode) expected.at("/messages/0/content/0")).put("uuid", uuid);
        expected.set("ec_transfer_params", StubNode.JSON.readTree("""
                {"%s":{"engine_id":"enc-1","addr":[7,8],"shape":[16,2048]}}""".formatted(uuid)));
        assertEquals(expected, d.received(CHAT).getFirst().json());
    }

    @Test
    void twoEncodersParamsAreMergedIntoThePrefillRequest() throws Exception {
        StubNode e1 = encoderAnsweringWithParams();
        StubNode e2 = encoderAnsweringWithParams();
        StubNode p = open.stub();
        p.on(CHAT, (r, ex) -> StubNode.respond(ex, 200, "application/json", """
                {"id":"p","object":"chat.completion","choices":[],"kv_transfer_params":{"remote_engine_id":"p-1"}}"""));
        StubNode d = open.stub();
        ProxyHarness proxy = open.add(ProxyHarness.start(List.of(e1, e2), List.of(p), List.of(d)));

        HttpResponse<byte[]> r = proxy.post(CHAT, ProxyChatFlowTest.twoImageRequest(false));

        assertEquals(200, r.statusCode(), ProxyHarness.text(r));
        String model = "Qwen/Qwen2.5-VL-3B-Instruct";
        JsonNode ec = StubNode.JSON.readTree("""
                {"%s":{"engine_id":"enc-1","addr":[7,8],"shape":[16,2048]},
                 "%s":{"engine_id":"enc-1","addr":[7,8],"shape":[16,2048]}}""".formatted(
                        ItemUuids.derive(model, Modality.IMAGE, PNG), ItemUuids.derive(model, Modality.IMAGE, REMOTE)));
        assertEquals(ec, p.received(CHAT).getFirst().json().get("ec_transfer_params"), "P: one entry per item");
        JsonNode dBody = d.received(CHAT).getFirst().json();
        assertEquals("p-1", dBody.at("/kv_transfer_params/remote_engine_id").asText());
    }

    @Test
    void anEncoderWithoutParamsAddsNothing() throws Exception {
        StubNode e = open.stub(); // answers a plain chat completion, as JEPD's shared-storage encoder does
        StubNode d = open.stub();
        ProxyHarness proxy = open.add(ProxyHarness.start(List.of(e), List.of(), List.of(d)));

        assertEquals(
                200, proxy.post(CHAT, ProxyChatFlowTest.twoImageRequest(false)).statusCode());

        assertEquals(2, e.received(CHAT).size());
        assertFalse(d.received(CHAT).getFirst().json().has("ec_transfer_params"));
    }
}
