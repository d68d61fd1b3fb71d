package dev.jepd.proxy.items;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.MediaErrors;
import dev.jepd.media.ImageFormat;
import dev.jepd.media.MediaConfig;
import dev.jepd.media.MediaException;
import dev.jepd.media.MediaLoader;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Remote images fetched once, at the proxy: each {@code http(s)} image URL of a request is fetched here (with the
 * nodes' rules: {@code --allowed-media-domains}, private and loopback addresses refused on every redirect hop
 * unless {@code --allow-private-media-urls}, one deadline, the size cap) and handed to the encoder and to the
 * prefill/decode node as a {@code data:} URL of the same bytes, so neither node fetches it again and the image
 * they see is the same. vLLM hashes the bytes an image arrived as, not its URL, so the nodes' keys do not change;
 * the uuid the proxy stamps still follows the URL (stamp first, then inline). The same URL twice in one request is
 * fetched once. {@code data:} and {@code file:} URLs are left alone (a file is read where the node runs).
 * Without a loader ({@link #forwarding()}) URLs go to the nodes as they came, and each node fetches them itself.
 */
public final class RemoteMedia implements AutoCloseable {
    private final MediaLoader loader; // null: URLs are forwarded

    private RemoteMedia(MediaLoader loader) {
        this.loader = loader;
    }

    /** Fetches remote images at the proxy under {@code config}'s rules. */
    public static RemoteMedia fetching(MediaConfig config) {
        return new RemoteMedia(new MediaLoader(config));
    }

    /** Leaves every URL to the nodes ({@code --forward-media-urls}). */
    public static RemoteMedia forwarding() {
        return new RemoteMedia(null);
    }

    /**
     * Replaces every remote image URL of {@code items} with a {@code data:} URL of its bytes; returns whether the
     * request changed. A fetch that fails is the client's error, as at a node (400, 403 or 413, OpenAI JSON).
     */
    /** Whether {@link #inline} would fetch anything for these items (a blocking download). */
    public boolean wouldFetch(List<MediaItem> items) {
        if (loader == null) {
            return false;
        }
        for (MediaItem item : items) {
            if (item.source() != null && isRemote(item.source())) {
                return true;
            }
        }
        return false;
    }

    public boolean inline(List<MediaItem> items) {
        if (loader == null) {
            return false;
        }
        Map<String, String> fetched = new HashMap<>();
        for (MediaItem item : items) {
            String url = item.source();
            if (url == null || !isRemote(url)) {
                continue;
            }
            String data = fetched.get(url);
            if (data == null) {
                try {
                    data = dataUrl(loader.fetch(url));
                } catch (MediaException e) {
                    throw MediaErrors.toApi(e, item.path() + ".image_url.url");
                }
                fetched.put(url, data);
            }
            JsonNode image = item.part().get("image_url");
            if (image instanceof ObjectNode object) {
                object.put("url", data);
            } else {
                item.part().put("image_url", data);
            }
        }
        return !fetched.isEmpty();
    }

    static boolean isRemote(String url) {
        String head = url.length() > 8 ? url.substring(0, 8).toLowerCase(Locale.ROOT) : url.toLowerCase(Locale.ROOT);
        return head.startsWith("http://") || head.startsWith("https://");
    }

    /** The bytes as a base64 {@code data:} URL typed by their magic bytes (the nodes sniff them anyway). */
    static String dataUrl(byte[] bytes) {
        String type;
        try {
            type = "image/" + ImageFormat.sniff(bytes).imageIoName();
        } catch (MediaException e) {
            type = "application/octet-stream"; // the node names the format it cannot read, as for any upload
        }
        return "data:" + type + ";base64," + Base64.getEncoder().encodeToString(bytes);
    }

    @Override
    public void close() {
        if (loader != null) {
            loader.close();
        }
    }
}
