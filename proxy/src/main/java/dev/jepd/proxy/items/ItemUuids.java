package dev.jepd.proxy.items;

import dev.jepd.api.ApiException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The {@code uuid} the proxy stamps on every item it sends to an encoder, so that the encoder and the
 * prefill/decode node key the encoder cache identically (DESIGN §4.2) whatever their make.
 *
 * <p>The uuid is derived from the content as the client sent it: the lowercase hex SHA-256 of
 * {@code "jepd-item-v1\n" + model + "\n" + modality + "\n" + source}, where {@code source} is the URL
 * string ({@code data:} URLs included, so the bytes themselves are hashed) and {@code model} is the
 * request's {@code model} ({@code ""} if absent). The same image in the same model therefore maps to the
 * same key in every request, and a repeat is an encoder-cache hit on the decode node; different models
 * never share a key, as vLLM's own {@code mm_hash} includes the model. For a remote {@code http(s)} or
 * {@code file} URL the key follows the URL, not the bytes behind it: a URL whose content changes must be
 * given a new URL or its own uuid. A uuid the client already set is kept as it is (it must match
 * {@code [A-Za-z0-9._-]+}, since it names a directory of the EC store; otherwise the request is a 400).
 */
public final class ItemUuids {
    private static final Pattern VALID = Pattern.compile("[A-Za-z0-9._-]{1,255}");
    private static final String VERSION = "jepd-item-v1";

    private ItemUuids() {}

    /**
     * Checks the uuids already present and stamps a derived one on every item that has media but no uuid.
     * Returns whether the request changed.
     */
    public static boolean stamp(String model, List<MediaItem> items) {
        boolean changed = false;
        for (MediaItem item : items) {
            var existing = item.part().get("uuid");
            if (existing != null && !existing.isNull()) {
                if (!existing.isTextual() || !isValid(existing.asText())) {
                    throw ApiException.badRequest(
                            "uuid must be a string of 1-255 characters from [A-Za-z0-9._-]", item.path() + ".uuid");
                }
            } else if (item.source() != null) {
                item.part().put("uuid", derive(model, item.modality(), item.source()));
                changed = true;
            }
        }
        return changed;
    }

    public static boolean isValid(String uuid) {
        return VALID.matcher(uuid).matches();
    }

    /** The content-derived uuid of one item (see the class comment). */
    public static String derive(String model, Modality modality, String source) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
        String head = VERSION + "\n" + (model == null ? "" : model) + "\n" + modality.key() + "\n";
        sha.update(head.getBytes(StandardCharsets.UTF_8));
        sha.update(source.getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(sha.digest());
    }
}
