package dev.jepd.proxy.items;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One multimodal content part of a request, still part of the request's tree (stamping its uuid changes
 * the request). {@code source} is the image URL as the client gave it (a remote or {@code data:} URL).
 * {@code path} locates the part for error messages, e.g. {@code messages[1].content[0]}.
 */
public record MediaItem(ObjectNode part, Modality modality, String source, String path) {
    /** The part's uuid, or null if it has none. */
    public String uuid() {
        var u = part.get("uuid");
        return u == null || u.isNull() ? null : u.asText();
    }
}
