package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The proxy side of the content-part grammar: every case of engine/api's {@code content-part-cases.json} (the
 * table the nodes' {@code RequestParser} test reads too) as one chat request through the real proxy to stub
 * E and D nodes. An accepted image goes to the encoder, accepted text does not, and a rejected part is the
 * node's 400 (same {@code param}, same message) before any node is asked.
 */
class ProxyContentPartsTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final Path CASES = Path.of("../engine/api/src/test/resources/content-part-cases.json");

    @RegisterExtension
    final TestResources open = new TestResources();

    @Test
    void theProxyAcceptsAndRejectsWhatTheNodesDo() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = open.add(ProxyHarness.start(List.of(e), List.of(), List.of(d)));
        JsonNode cases = StubNode.JSON.readTree(Files.readString(CASES));
        assertTrue(cases.size() > 30, "the table is read");
        for (JsonNode c : cases) {
            String name = c.get("name").asText();
            e.received.clear();
            d.received.clear();
            ObjectNode body = StubNode.JSON.createObjectNode();
            body.put("model", "m");
            ObjectNode msg = body.putArray("messages").addObject();
            msg.put("role", "user");
            msg.putArray("content").add(c.get("part"));

            HttpResponse<byte[]> r = proxy.post(CHAT, StubNode.JSON.writeValueAsString(body));

            switch (c.get("expect").asText()) {
                case "reject" -> {
                    assertEquals(400, r.statusCode(), name);
                    JsonNode err = ProxyHarness.json(r).get("error");
                    assertEquals(
                            "messages[0].content[0]" + c.get("param").asText(),
                            err.get("param").asText(),
                            name);
                    assertTrue(
                            err.get("message")
                                    .asText()
                                    .contains(c.get("message").asText()),
                            name);
                    assertEquals(0, e.received.size() + d.received.size(), name + ": no node is asked");
                }
                case "image" -> {
                    assertEquals(200, r.statusCode(), name);
                    assertEquals(1, e.received(CHAT).size(), name + ": the image goes to the encoder");
                    JsonNode sent = e.received(CHAT).getFirst().json().at("/messages/0/content/0");
                    assertEquals(
                            c.get("part").get("image_url").isObject()
                                    ? c.at("/part/image_url/url")
                                    : c.at("/part/image_url"),
                            sent.get("image_url").isObject() ? sent.at("/image_url/url") : sent.get("image_url"),
                            name);
                    if (c.hasNonNull("uuid")) {
                        assertEquals(
                                c.get("uuid").asText(),
                                sent.get("uuid").asText(),
                                name + ": the client's uuid is kept");
                    }
                    assertEquals(1, d.received(CHAT).size(), name);
                }
                case "text", "skip" -> {
                    assertEquals(200, r.statusCode(), name);
                    assertEquals(0, e.received.size(), name + ": text does not go to encoders");
                    assertEquals(1, d.received(CHAT).size(), name);
                }
                default -> throw new IllegalArgumentException("unknown expectation in " + c);
            }
        }
    }
}
