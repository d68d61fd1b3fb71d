package dev.jepd.proxy.items;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ChatContentParts;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the content parts that go to encoders through the grammar the nodes use too
 * ({@link ChatContentParts}, which follows vLLM's chat parser): every image part, typed or inferred from its
 * keys. A part the nodes would reject (an unknown type, audio, video, embeddings, an image without a URL) is
 * rejected here with the same 400, before any encoder is asked; text parts stay where they are.
 */
public final class MediaItems {
    private MediaItems() {}

    /** Every encoder-bound part in {@code messages[*].content[*]}, in request order. */
    public static List<MediaItem> find(ObjectNode body) {
        List<MediaItem> items = new ArrayList<>();
        JsonNode messages = body.get("messages");
        if (messages == null || !messages.isArray()) {
            return items; // the node answers the malformed request with its own 400
        }
        for (int m = 0; m < messages.size(); m++) {
            JsonNode content = messages.get(m).get("content");
            if (content == null || !content.isArray()) {
                continue;
            }
            for (int c = 0; c < content.size(); c++) {
                String path = "messages[" + m + "].content[" + c + "]";
                if (ChatContentParts.parse(content.get(c), path).orElse(null) instanceof ChatContentParts.Image image
                        && content.get(c) instanceof ObjectNode part) {
                    items.add(new MediaItem(part, Modality.IMAGE, image.url(), path));
                }
            }
        }
        return items;
    }
}
