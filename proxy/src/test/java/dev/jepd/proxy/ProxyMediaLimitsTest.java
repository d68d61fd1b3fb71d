package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.api.MediaLimits;
import dev.jepd.proxy.upstream.Routing;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code --limit-mm-per-prompt} at the proxy: a request over it is a 400 naming the limit, and no node is asked. */
class ProxyMediaLimitsTest {
    private static final String CHAT = "/v1/chat/completions";

    @RegisterExtension
    final TestResources open = new TestResources();

    private static String images(int n) {
        StringBuilder parts = new StringBuilder();
        for (int i = 0; i < n; i++) {
            parts.append("{\"type\":\"image_url\",\"image_url\":{\"url\":\"")
                    .append(TestImages.dataUrl("png", 16 + 8 * i, 16))
                    .append("\"}},");
        }
        return "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[" + parts
                + "{\"type\":\"text\",\"text\":\"hi\"}]}],\"max_tokens\":4}";
    }

    @Test
    void moreImagesThanTheLimitAreA400NamingItBeforeAnyNodeIsAsked() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        ProxyHarness proxy = open.proxy(
                ProxyHarness.config(List.of(e), List.of(), List.of(d), Routing.ROUND_ROBIN, Duration.ofSeconds(10))
                        .with(ProxyHarness.QUIET)
                        .with(MediaLimits.parse("{\"image\": 2}")));
        HttpResponse<byte[]> refused = proxy.post(CHAT, images(3));
        assertEquals(400, refused.statusCode());
        JsonNode error = StubNode.JSON.readTree(refused.body()).path("error");
        assertEquals(
                "You set '{\"image\": 2}' in `--limit-mm-per-prompt`, but passed 3 image items in the same prompt.",
                error.path("message").asText());
        assertEquals("BadRequestError", error.path("type").asText());
        assertTrue(e.received.isEmpty() && d.received.isEmpty(), "no node is asked");

        assertEquals(200, proxy.post(CHAT, images(2)).statusCode());
        assertEquals(2, e.received(CHAT).size());
    }
}
