package dev.jepd.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;

/** Reading SSE bodies in tests. */
final class ClusterTestSupport {
    private ClusterTestSupport() {}

    /** The concatenated content deltas of a chat SSE body; an error event fails the test. */
    static String sseText(String body) {
        StringBuilder text = new StringBuilder();
        for (String event : body.split("\n\n")) {
            if (event.isBlank() || event.equals("data: [DONE]")) {
                continue;
            }
            try {
                JsonNode c = Http.JSON.readTree(event.substring(event.indexOf("data: ") + 6));
                if (c.has("error")) {
                    throw new AssertionError(event);
                }
                text.append(c.at("/choices/0/delta/content").asText(""));
            } catch (IOException e) {
                throw new AssertionError(event, e);
            }
        }
        return text.toString();
    }
}
