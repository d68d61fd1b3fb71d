package dev.jepd.proxy.flow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Lease;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.UpstreamClient;
import dev.jepd.proxy.upstream.UpstreamFailure;
import dev.jepd.proxy.upstream.UpstreamResponse;
import java.io.IOException;
import java.util.HashSet;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The prefill request of E+P+D (DESIGN §4.4): the client's body with {@code kv_transfer_params} asking for
 * a remote decode, {@code stream:false}, {@code max_tokens:1} (and {@code max_completion_tokens:1} if the
 * client set it), no {@code stream_options}; the answer's top-level {@code kv_transfer_params} go to the
 * decode node verbatim. P and D get the same {@code x-request-id}.
 *
 * <p>A prefill node that fails (unreachable, timed out, 5xx, or an answer without usable JSON) is evicted where
 * unreachable and the request tried on one more healthy prefill node; after that, or with none healthy, the
 * decode node gets the body without {@code kv_transfer_params} and prefills itself. A 4xx is the client's.
 */
public final class PrefillStage {
    private static final Logger LOG = LoggerFactory.getLogger(PrefillStage.class);
    private static final int MAX_TRIES = 2;

    private final Cluster prefill;
    private final UpstreamClient client;

    public PrefillStage(Cluster prefill, UpstreamClient client) {
        this.prefill = prefill;
        this.client = client;
    }

    /** The body for the decode node: {@code body} plus P's {@code kv_transfer_params}, or {@code body} itself. */
    public ObjectNode run(ObjectNode body, String path, RequestContext ctx) {
        Set<Node> tried = new HashSet<>();
        byte[] request = null;
        for (int t = 0; t < MAX_TRIES; t++) {
            Lease lease = prefill.acquire(1, tried);
            if (lease == null) {
                break;
            }
            tried.add(lease.node());
            if (request == null) {
                request = Json.bytes(prefillRequest(body));
            }
            UpstreamResponse answer;
            try (lease) {
                answer = client.post(lease.node(), path, request, ctx.headers(), ctx.watch());
            } catch (ApiException e) {
                if (!UpstreamFailure.retryable(e)) {
                    throw e;
                }
                if (UpstreamFailure.unreachable(e)) {
                    lease.member().evict(e.getMessage());
                }
                LOG.warn("[{}] prefill failed: {}", ctx.requestId(), e.getMessage());
                continue;
            }
            JsonNode json;
            try {
                json = Json.MAPPER.readTree(answer.body());
            } catch (IOException e) {
                LOG.warn("[{}] {} answered with invalid JSON: {}", ctx.requestId(), answer.node(), e.getMessage());
                continue;
            }
            JsonNode params = json == null ? null : json.get("kv_transfer_params");
            if (params == null || params.isNull() || (params.isContainerNode() && params.isEmpty())) {
                // As vLLM's proxy: decode then prefills by itself.
                LOG.warn("[{}] {} returned no kv_transfer_params", ctx.requestId(), answer.node());
                return body;
            }
            ObjectNode decode = Json.MAPPER.createObjectNode().setAll(body);
            decode.set("kv_transfer_params", params);
            return decode;
        }
        LOG.warn("[{}] no prefill node answered; the decode node prefills itself", ctx.requestId());
        return body;
    }

    static ObjectNode prefillRequest(ObjectNode body) {
        ObjectNode p = Json.MAPPER.createObjectNode().setAll(body); // shallow: only top-level fields change
        ObjectNode kv = Json.MAPPER.createObjectNode();
        kv.put("do_remote_decode", true);
        kv.put("do_remote_prefill", false);
        kv.putNull("remote_engine_id");
        kv.putNull("remote_block_ids");
        kv.putNull("remote_host");
        kv.putNull("remote_port");
        p.set("kv_transfer_params", kv);
        p.put("stream", false);
        p.put("max_tokens", 1);
        if (p.has("max_completion_tokens")) {
            p.put("max_completion_tokens", 1);
        }
        p.remove("stream_options");
        return p;
    }
}
