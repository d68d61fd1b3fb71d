package dev.jepd.proxy.items;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the content parts that go to encoders, the way vLLM's chat parser reads them
 * ({@code vllm/entrypoints/chat_utils.py}): {@code image_url} (with {@code image_url.url}, or a plain
 * string), {@code input_image} (the Responses-API spelling, {@code image_url} a string), a part without
 * {@code type} that carries {@code image_url}, and the audio parts {@code audio_url} / {@code input_audio}
 * that vLLM's {@code disagg_epd_proxy.py} also sends to encoders. {@code image_pil} exists only for
 * vLLM's offline {@code LLM.chat} (a PIL object cannot travel in JSON); embeddings, video and text parts
 * stay where they are.
 */
public final class MediaItems {
    private MediaItems() {}

    /** Every encoder-bound part in {@code messages[*].content[*]}, in request order. */
    public static List<MediaItem> find(ObjectNode body) {
        List<MediaItem> items = new ArrayList<>();
        JsonNode messages = body.get("messages");
        if (messages == null || !messages.isArray()) {
            return items;
        }
        for (int m = 0; m < messages.size(); m++) {
            JsonNode content = messages.get(m).get("content");
            if (content == null || !content.isArray()) {
                continue;
            }
            for (int c = 0; c < content.size(); c++) {
                if (content.get(c) instanceof ObjectNode part) {
                    MediaItem item = classify(part, "messages[" + m + "].content[" + c + "]");
                    if (item != null) {
                        items.add(item);
                    }
                }
            }
        }
        return items;
    }

    private static MediaItem classify(ObjectNode part, String path) {
        JsonNode typeNode = part.get("type");
        String type = typeNode != null && typeNode.isTextual() ? typeNode.asText() : null;
        if (type == null) {
            if (part.has("image_url")) {
                type = "image_url";
            } else if (part.has("audio_url")) {
                type = "audio_url";
            } else if (part.hasNonNull("input_audio")) {
                type = "input_audio";
            } else {
                return null;
            }
        }
        return switch (type) {
            case "image_url", "input_image" -> new MediaItem(part, Modality.IMAGE, url(part.get("image_url")), path);
            case "audio_url" -> new MediaItem(part, Modality.AUDIO, url(part.get("audio_url")), path);
            case "input_audio" -> new MediaItem(part, Modality.AUDIO, inputAudio(part.get("input_audio")), path);
            default -> null;
        };
    }

    /** {@code {"url": "…"}} or {@code "…"}; null when absent or empty. */
    private static String url(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        JsonNode url = node.isObject() ? node.get("url") : node;
        return url != null && url.isTextual() && !url.asText().isEmpty() ? url.asText() : null;
    }

    /** vLLM turns {@code {"data","format"}} into {@code data:audio/<format>;base64,<data>}. */
    private static String inputAudio(JsonNode node) {
        if (node == null
                || !node.isObject()
                || !node.path("data").isTextual()
                || node.path("data").asText().isEmpty()) {
            return null;
        }
        return "data:audio/" + node.path("format").asText("") + ";base64,"
                + node.path("data").asText();
    }
}
