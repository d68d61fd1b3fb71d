package dev.jepd.proxy.flow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.api.MediaLimits;
import dev.jepd.api.RequestSchema;
import dev.jepd.proxy.items.ItemUuids;
import dev.jepd.proxy.items.MediaItem;
import dev.jepd.proxy.items.MediaItems;
import dev.jepd.proxy.items.Modality;
import dev.jepd.proxy.items.RemoteMedia;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Lease;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.UpstreamClient;
import dev.jepd.proxy.upstream.UpstreamFailure;
import dev.jepd.proxy.upstream.UpstreamStream;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client request through the clusters: uuids stamped, remote images fetched once ({@link RemoteMedia}), encoders (chat requests with media only), then
 * prefill when configured, then decode. The prefill (or, without a prefill cluster, the decode) node gets the
 * client's body unchanged except for the stamped uuids and the encoders' {@code ec_transfer_params} (copied
 * verbatim, as P's {@code kv_transfer_params} are to D); the decode node gets that body plus P's
 * {@code kv_transfer_params}; when nothing changed, the client's bytes themselves.
 *
 * <p>Decode failover: a decode node that fails before the client got any byte of the answer (unreachable,
 * reset, timed out, a 5xx, a stream that breaks before its first byte) is evicted where unreachable or draining
 * (503 and {@code Connection: close}: nothing ran there) and the request goes to another decode node; an
 * overloaded one (another 503) is passed over for this request only; a decode node that failed on P's {@code kv_transfer_params} (P gone
 * with the KV) gets the request once more without them and prefills itself. Once a byte has gone to the
 * client nothing is retried: a stream that breaks ends with an error event and {@code [DONE]}.
 */
public final class Disaggregation {
    private static final Logger LOG = LoggerFactory.getLogger(Disaggregation.class);
    public static final String CHAT = "/v1/chat/completions";
    public static final String COMPLETIONS = "/v1/completions";

    private final EncoderFanout encoders;
    private final PrefillStage prefill;
    private final Cluster prefillCluster;
    private final Cluster decode;
    private final UpstreamClient client;
    private final MediaLimits mediaLimits;
    private final RemoteMedia remoteMedia;

    public Disaggregation(
            EncoderFanout encoders,
            Cluster prefill,
            Cluster decode,
            UpstreamClient client,
            MediaLimits mediaLimits,
            RemoteMedia remoteMedia) {
        this.encoders = encoders;
        this.mediaLimits = mediaLimits;
        this.remoteMedia = remoteMedia;
        this.prefill = new PrefillStage(prefill, client);
        this.prefillCluster = prefill;
        this.decode = decode;
        this.client = client;
    }

    /** {@code POST /v1/chat/completions}: E (if the request has media), P (if configured), D. */
    public ProxyReply chat(byte[] raw, RequestContext ctx) {
        Parsed p = parse(raw, CHAT);
        boolean changed = p.changed | remoteMedia.inline(p.items); // after stamping: the uuid follows the client's URL
        Optional<JsonNode> ec = encoders.run(p.body, p.items, ctx);
        if (ec.isPresent()) {
            p.body.set(EncoderFanout.EC_TRANSFER_PARAMS, ec.get());
            changed = true;
        }
        return prefillThenDecode(raw, p.body, changed, CHAT, p.keys(), ctx);
    }

    /** {@code POST /v1/completions}: text only, P (if configured), D. */
    public ProxyReply completions(byte[] raw, RequestContext ctx) {
        Parsed p = parse(raw, COMPLETIONS);
        return prefillThenDecode(raw, p.body, p.changed, COMPLETIONS, List.of(), ctx);
    }

    /**
     * A request as both flows start it: parsed, checked with the nodes' schema, and for a chat request its media
     * items found, counted against the limits and stamped with their uuids; {@code changed} when the body is no
     * longer the client's bytes.
     */
    record Parsed(ObjectNode body, List<MediaItem> items, boolean changed) {
        /** The items' EC keys (for cache-affinity routing of the decode node). */
        List<String> keys() {
            return items.stream()
                    .map(MediaItem::uuid)
                    .filter(java.util.Objects::nonNull)
                    .toList();
        }
    }

    Parsed parse(byte[] raw, String path) {
        ObjectNode body = Json.parseObject(raw);
        if (!path.equals(CHAT)) {
            return new Parsed(body, List.of(), validated(body, RequestSchema::completion));
        }
        boolean changed = validated(body, RequestSchema::chat);
        List<MediaItem> items = MediaItems.find(body);
        mediaLimits.check(Modality.IMAGE.key(), items.size()); // every item is an image: the grammar refuses the rest
        changed |= ItemUuids.stamp(body.path("model").asText(""), items);
        return new Parsed(body, items, changed);
    }

    /** Whether the request needs the blocking flow: remote images to fetch, or a prefill stage (E+P+D). */
    boolean needsBlockingFlow(Parsed p) {
        return !prefillCluster.isEmpty() || remoteMedia.wouldFetch(p.items);
    }

    /**
     * A decode node failed before the client got any byte: whether another one may take the request (then the
     * node is evicted where it is gone or draining), or {@code e} is the client's answer.
     */
    static boolean retryDecode(ApiException e, Lease lease, RequestContext ctx) {
        if (!UpstreamFailure.retryable(e)) {
            return false;
        }
        if (UpstreamFailure.unreachable(e)) {
            lease.member().evict(e.getMessage()); // gone, stuck or draining: until /health says 200
        }
        LOG.warn("[{}] decode failed before its first byte, trying again: {}", ctx.requestId(), e.getMessage());
        return true;
    }

    /**
     * Checks the body with the nodes' own schema (a 400 naming the field before any node is asked) and says
     * whether its lax coercions rewrote anything, so the raw bytes are forwarded only when they are still the body.
     * The copy shares every value node (Jackson copies containers only), so it costs little even for inline images.
     */
    private static boolean validated(ObjectNode body, java.util.function.Consumer<ObjectNode> schema) {
        ObjectNode before = body.deepCopy();
        schema.accept(body);
        return !before.equals(body);
    }

    private ProxyReply prefillThenDecode(
            byte[] raw, ObjectNode body, boolean changed, String path, List<String> keys, RequestContext ctx) {
        ObjectNode forDecode = prefillCluster.isEmpty() ? body : prefill.run(body, path, ctx);
        byte[] plain = changed ? Json.bytes(body) : raw;
        boolean withKv = forDecode != body;
        byte[] json = withKv ? Json.bytes(forDecode) : plain;
        boolean stream = body.path("stream").asBoolean(false);
        Set<Node> tried = new HashSet<>();
        ApiException last = null;
        while (true) {
            Lease lease = decode.acquire(1, tried, keys, true);
            if (lease == null) {
                throw last != null ? last : new ApiException(503, "no decode node is configured", null);
            }
            Node node = lease.node();
            tried.add(node);
            try {
                if (!stream) {
                    try (lease) {
                        ProxyReply.Whole whole =
                                new ProxyReply.Whole(client.post(node, path, json, ctx.headers(), ctx.watch()));
                        keys.forEach(k -> decode.remember(k, node));
                        return whole;
                    }
                }
                UpstreamStream s = client.postStreaming(node, path, json, ctx.headers(), ctx.watch());
                keys.forEach(k -> decode.remember(k, node));
                return new ProxyReply.Streamed(s, lease);
            } catch (ApiException e) {
                lease.close();
                if (!retryDecode(e, lease, ctx)) {
                    throw e;
                }
                last = e;
                if (withKv && !UpstreamFailure.unreachable(e) && e.status() != 503) {
                    // The node is there but could not use P's KV (P may be gone with it): it prefills itself.
                    tried.remove(node);
                    json = plain;
                    withKv = false;
                }
            }
        }
    }
}
