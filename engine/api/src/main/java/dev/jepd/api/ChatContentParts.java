package dev.jepd.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Optional;
import java.util.Set;

/**
 * The one grammar of a chat message's content parts ({@code messages[i].content[j]}), read by the proxy
 * (to find the images it sends to encoders) and by the nodes (to build the prompt), so that both accept
 * and reject exactly the same parts.
 *
 * <p>It follows vLLM's {@code _parse_chat_message_content_part} and
 * {@code _parse_chat_message_content_mm_part} ({@code vllm/entrypoints/chat_utils.py}):
 *
 * <ul>
 *   <li>A plain JSON string is a text part.
 *   <li>A part whose {@code type} is a known string and that has no {@code uuid} is read by its type. A
 *       part with no {@code type} (absent or null), or with a {@code uuid}, has its kind inferred from its
 *       keys in vLLM's order: {@code image_url}, {@code image_pil}, {@code image_embeds},
 *       {@code audio_embeds}, {@code prompt_embeds}, {@code audio_url}, {@code input_audio} (non-null),
 *       {@code video_url}, {@code tool_reference}; none of them is vLLM's 400 "Missing 'type' field in
 *       multimodal part." A {@code type} that is not a string is "Invalid 'type' field"; an unknown type
 *       string is "Unsupported chat content part type".
 *   <li>Text-like types: {@code text}, {@code input_text}, {@code output_text} (key {@code text}),
 *       {@code refusal} (key {@code refusal}), {@code thinking} (key {@code thinking}). One whose text is
 *       absent or null is skipped, as vLLM skips it; a text that is not a string is a 400.
 *   <li>Images: {@code image_url} with {@code image_url} an object {@code {url, detail}} (vLLM only warns
 *       about {@code detail}, so any detail is accepted and ignored) or a plain string; {@code input_image}
 *       (the Responses-API spelling) with {@code image_url} a string. The part's {@code uuid}, when
 *       present, must be a string and keys the encoder cache.
 *   <li>Modalities no JEPD model serves ({@code image_embeds}, {@code image_pil}, {@code audio_url},
 *       {@code input_audio}, {@code audio_embeds}, {@code video_url}, {@code prompt_embeds}) and
 *       {@code tool_reference} (JEPD serves no tools) are a 400 naming the type.
 * </ul>
 *
 * <p>Where JEPD departs from vLLM, it does so to stay consistent with what the nodes can serve: a typed
 * {@code image_url} part whose {@code image_url} is a plain string is accepted (vLLM accepts the string form
 * only without {@code type}); and an image part without a URL is a 400 even with a {@code uuid} (vLLM would
 * treat it as a reference to an already cached item, which JEPD's nodes cannot resolve without the bytes).
 */
public final class ChatContentParts {
    /** The part types this grammar accepts. */
    public static final Set<String> SUPPORTED_TYPES =
            Set.of("image_url", "input_image", "input_text", "output_text", "refusal", "text", "thinking");

    private static final String SUPPORTED_LIST =
            "image_url, input_image, input_text, output_text, refusal, text, thinking";

    private ChatContentParts() {}

    /** One accepted content part. */
    public sealed interface Part permits Text, Image {}

    /** Text to render as it is. */
    public record Text(String text) implements Part {}

    /**
     * An image.
     *
     * @param url the image URL ({@code data:}, {@code file://}, {@code http(s)://}), never empty
     * @param uuid the part's {@code uuid}, or null
     */
    public record Image(String url, String uuid) implements Part {}

    /**
     * Parses one part; empty for a text-like part without text (vLLM skips those).
     *
     * @param part one element of a message's {@code content} array
     * @param at where it sits, for error messages and the {@code param}, e.g. {@code messages[0].content[1]}
     * @throws ApiException a 400 naming the offending field
     */
    public static Optional<Part> parse(JsonNode part, String at) {
        if (part.isTextual()) {
            return Optional.of(new Text(part.asText()));
        }
        if (!part.isObject()) {
            throw ApiException.badRequest(at + " must be an object or a string", at);
        }
        JsonNode typeNode = part.get("type");
        boolean untyped = typeNode == null || typeNode.isNull();
        JsonNode uuidNode = part.get("uuid");
        boolean hasUuid = uuidNode != null && !uuidNode.isNull();
        if (hasUuid && !uuidNode.isTextual()) {
            throw ApiException.badRequest(at + ".uuid must be a string", at + ".uuid");
        }
        String uuid = hasUuid ? uuidNode.asText() : null;
        if (!untyped && typeNode.isTextual() && isKnown(typeNode.asText()) && !hasUuid) {
            return byType(typeNode.asText(), part, at);
        }
        if (untyped || hasUuid) {
            return Optional.of(inferred(part, uuid, at));
        }
        if (!typeNode.isTextual()) {
            throw ApiException.badRequest("Invalid 'type' field in multimodal part.", at + ".type");
        }
        throw unsupported(typeNode.asText(), at + ".type");
    }

    private static boolean isKnown(String type) {
        return SUPPORTED_TYPES.contains(type) || isUnsupportedModality(type);
    }

    private static boolean isUnsupportedModality(String type) {
        return switch (type) {
            case "image_embeds",
                    "image_pil",
                    "audio_url",
                    "input_audio",
                    "audio_embeds",
                    "video_url",
                    "prompt_embeds",
                    "tool_reference" -> true;
            default -> false;
        };
    }

    /** A known {@code type} on a part without {@code uuid}. */
    private static Optional<Part> byType(String type, JsonNode part, String at) {
        return switch (type) {
            case "text", "input_text", "output_text" -> text(part, "text", at);
            case "refusal" -> text(part, "refusal", at);
            case "thinking" -> text(part, "thinking", at);
            case "image_url", "input_image" -> Optional.of(image(part, null, at));
            default -> throw unsupported(type, at + ".type");
        };
    }

    /** vLLM's key inference for a part without {@code type} or with a {@code uuid}. */
    private static Part inferred(JsonNode part, String uuid, String at) {
        if (part.has("image_url")) {
            return image(part, uuid, at);
        }
        for (String key : new String[] {
            "image_pil",
            "image_embeds",
            "audio_embeds",
            "prompt_embeds",
            "audio_url",
            "input_audio",
            "video_url",
            "tool_reference"
        }) {
            if (key.equals("input_audio") ? part.hasNonNull(key) : part.has(key)) {
                throw unsupported(key, at);
            }
        }
        throw ApiException.badRequest("Missing 'type' field in multimodal part.", at + ".type");
    }

    private static Optional<Part> text(JsonNode part, String key, String at) {
        JsonNode v = part.get(key);
        if (v == null || v.isNull()) {
            return Optional.empty();
        }
        if (!v.isTextual()) {
            throw ApiException.badRequest(at + "." + key + " must be a string", at + "." + key);
        }
        return Optional.of(new Text(v.asText()));
    }

    /** {@code image_url}: {@code {"url": "…", "detail": …}} or {@code "…"}. */
    private static Image image(JsonNode part, String uuid, String at) {
        JsonNode iu = part.get("image_url");
        JsonNode url = iu == null || iu.isNull() ? null : iu.isObject() ? iu.get("url") : iu;
        if (url != null && !url.isNull() && !url.isTextual()) {
            throw ApiException.badRequest(at + ".image_url.url must be a string", at + ".image_url.url");
        }
        if (url == null || url.isNull() || url.asText().isEmpty()) {
            throw ApiException.badRequest(at + ".image_url.url is required", at + ".image_url.url");
        }
        return new Image(url.asText(), uuid);
    }

    private static ApiException unsupported(String type, String param) {
        if (isUnsupportedModality(type)) {
            return ApiException.badRequest(
                    "content part type '" + type + "' is not supported: this server accepts text and image parts"
                            + " (supported types: " + SUPPORTED_LIST + ")",
                    param);
        }
        return ApiException.badRequest(
                "Unsupported chat content part type: '" + type + "'. Supported types: " + SUPPORTED_LIST + ".", param);
    }
}
