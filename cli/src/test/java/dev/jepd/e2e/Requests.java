package dev.jepd.e2e;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** Request bodies for the e2e tests. */
public final class Requests {
    private Requests() {}

    public static ObjectNode chat(String model, String imageUrl, String text, int maxTokens, boolean stream) {
        ObjectNode body = Http.JSON.createObjectNode();
        body.put("model", model);
        ArrayNode content =
                body.putArray("messages").addObject().put("role", "user").putArray("content");
        if (imageUrl != null) {
            content.addObject().put("type", "image_url").putObject("image_url").put("url", imageUrl);
        }
        content.addObject().put("type", "text").put("text", text);
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0);
        body.put("stream", stream);
        return body;
    }

    /** What the proxy sends an encoder for one image (DESIGN §4.3). */
    public static ObjectNode encoderRequest(String model, String imageUrl) {
        ObjectNode body = Http.JSON.createObjectNode();
        body.put("model", model);
        body.putArray("messages")
                .addObject()
                .put("role", "user")
                .putArray("content")
                .addObject()
                .put("type", "image_url")
                .putObject("image_url")
                .put("url", imageUrl);
        body.put("max_tokens", 1);
        body.put("stream", false);
        return body;
    }
}
