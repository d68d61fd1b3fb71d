package dev.jepd.proxy.flow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.Json;
import dev.jepd.proxy.items.ImageCost;
import dev.jepd.proxy.items.ItemUuids;
import dev.jepd.proxy.items.MediaItem;
import dev.jepd.proxy.items.MediaItems;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Router;
import dev.jepd.proxy.upstream.UpstreamClient;
import dev.jepd.proxy.upstream.UpstreamStream;
import java.util.List;
import java.util.Optional;

/**
 * One client request through the clusters: uuids stamped, encoders (chat requests with media only), then
 * prefill when configured, then decode. The prefill (or, without a prefill cluster, the decode) node gets the
 * client's body unchanged except for the stamped uuids and the encoders' {@code ec_transfer_params} (copied
 * verbatim, as P's {@code kv_transfer_params} are to D); the decode node gets that body plus P's
 * {@code kv_transfer_params}; when nothing changed, the client's bytes themselves.
 */
public final class Disaggregation {
    public static final String CHAT = "/v1/chat/completions";
    public static final String COMPLETIONS = "/v1/completions";

    private final EncoderFanout encoders;
    private final PrefillStage prefill;
    private final Cluster prefillCluster;
    private final Cluster decode;
    private final UpstreamClient client;

    public Disaggregation(Cluster encode, Cluster prefill, Cluster decode, UpstreamClient client, ImageCost cost) {
        this.encoders = new EncoderFanout(encode, client, cost);
        this.prefill = new PrefillStage(prefill, client);
        this.prefillCluster = prefill;
        this.decode = decode;
        this.client = client;
    }

    /** {@code POST /v1/chat/completions}: E (if the request has media), P (if configured), D. */
    public ProxyReply chat(byte[] raw, RequestContext ctx) {
        ObjectNode body = Json.parseObject(raw);
        List<MediaItem> items = MediaItems.find(body);
        boolean changed = ItemUuids.stamp(body.path("model").asText(""), items);
        Optional<JsonNode> ec = encoders.run(body, items, ctx);
        if (ec.isPresent()) {
            body.set(EncoderFanout.EC_TRANSFER_PARAMS, ec.get());
            changed = true;
        }
        return prefillThenDecode(raw, body, changed, CHAT, ctx);
    }

    /** {@code POST /v1/completions}: text only, P (if configured), D. */
    public ProxyReply completions(byte[] raw, RequestContext ctx) {
        return prefillThenDecode(raw, Json.parseObject(raw), false, COMPLETIONS, ctx);
    }

    private ProxyReply prefillThenDecode(
            byte[] raw, ObjectNode body, boolean changed, String path, RequestContext ctx) {
        ObjectNode forDecode = prefillCluster.isEmpty() ? body : prefill.run(body, path, ctx);
        byte[] json = changed || forDecode != body ? Json.bytes(forDecode) : raw;
        boolean stream = body.path("stream").asBoolean(false);
        Router.Lease lease = decode.router().acquire(1);
        if (!stream) {
            try (lease) {
                return new ProxyReply.Whole(client.post(lease.node(), path, json, ctx.headers()));
            }
        }
        try {
            UpstreamStream s = client.postStreaming(lease.node(), path, json, ctx.headers());
            return new ProxyReply.Streamed(s, lease);
        } catch (RuntimeException e) {
            lease.close();
            throw e;
        }
    }
}
