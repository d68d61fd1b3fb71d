package dev.jepd.proxy.flow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.proxy.items.ImageCost;
import dev.jepd.proxy.items.MediaItem;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Router;
import dev.jepd.proxy.upstream.UpstreamClient;
import dev.jepd.proxy.upstream.UpstreamFailure;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends every media item of a request alone to an encoder (DESIGN §4.3), all at once, and returns when
 * every encoder answered 2xx: an encoder writes the item's EC file before it answers, so the decode node
 * will find it. The first failure cancels the rest and is what the client sees; the whole fan-out is
 * bounded by the upstream time-out. An item that appears twice in one request (same uuid) is encoded once.
 *
 * <p>What the encoders answer with at top level as {@code ec_transfer_params} (where their connector says
 * where the encoder cache lies) is returned for the prefill request, as raw JSON: one answer's value verbatim;
 * several answers' objects merged key by key (each encoder's keys name its own items, as vLLM's consumer
 * looks them up by {@code mm_hash}). Answers without it (JEPD's shared-storage encoder today) add nothing.
 */
public final class EncoderFanout {
    private static final Logger LOG = LoggerFactory.getLogger(EncoderFanout.class);
    private static final String PATH = "/v1/chat/completions";
    public static final String EC_TRANSFER_PARAMS = "ec_transfer_params";
    /** Request fields the encoder needs to compute the same key and the same pixels as the decode node. */
    private static final List<String> MEDIA_FIELDS = List.of("mm_processor_kwargs", "media_io_kwargs");

    private final Cluster encoders;
    private final UpstreamClient client;
    private final ImageCost cost;

    public EncoderFanout(Cluster encoders, UpstreamClient client, ImageCost cost) {
        this.encoders = encoders;
        this.client = client;
        this.cost = cost;
    }

    /** Encodes every item; returns the encoders' {@code ec_transfer_params}, if any answered with some. */
    public Optional<JsonNode> run(ObjectNode body, List<MediaItem> items, RequestContext ctx) {
        if (encoders.isEmpty()) {
            return Optional.empty(); // no encode cluster: the decode node encodes its images itself
        }
        List<Sent> sent = new ArrayList<>();
        CompletableFuture<Void> outcome = new CompletableFuture<>();
        Set<String> seen = new HashSet<>();
        List<Integer> indexes = new ArrayList<>();
        for (int idx = 0; idx < items.size(); idx++) {
            MediaItem item = items.get(idx);
            String key = item.uuid() != null ? item.uuid() : item.source();
            if (item.source() != null && seen.add(key)) {
                indexes.add(idx);
            }
        }
        if (indexes.isEmpty()) {
            return Optional.empty();
        }
        AtomicInteger pending = new AtomicInteger(indexes.size());
        for (int idx : indexes) {
            MediaItem item = items.get(idx);
            Router router = encoders.router();
            Router.Lease lease = router.acquire(router.usesCost() ? cost.tokens(item) : 1);
            Node node = lease.node();
            String childId = ctx.requestId() + ":" + idx + ":" + shortHex();
            CompletableFuture<HttpResponse<byte[]>> f;
            try {
                f = client.postAsync(node, PATH, Json.bytes(encoderRequest(body, item.part())), ctx.headers(childId));
            } catch (RuntimeException e) {
                lease.close();
                cancelAll(sent);
                throw e;
            }
            sent.add(new Sent(node, f));
            f.whenComplete((response, failure) -> {
                lease.close();
                if (failure != null) {
                    outcome.completeExceptionally(UpstreamFailure.transport(node, failure, client.timeout()));
                } else if (response.statusCode() / 100 != 2) {
                    outcome.completeExceptionally(UpstreamFailure.status(node, response.statusCode(), response.body()));
                } else if (pending.decrementAndGet() == 0) {
                    outcome.complete(null);
                }
            });
        }
        await(outcome, sent, ctx);
        LOG.debug("[{}] {} encoder request(s) done", ctx.requestId(), sent.size());
        List<JsonNode> params = new ArrayList<>();
        for (Sent s : sent) {
            ecTransferParams(s.future.join().body()).ifPresent(params::add);
        }
        return merge(params);
    }

    /** The top-level {@code ec_transfer_params} of one encoder answer; empty when absent, null or empty. */
    static Optional<JsonNode> ecTransferParams(byte[] answer) {
        JsonNode json;
        try {
            json = Json.MAPPER.readTree(answer);
        } catch (IOException e) {
            return Optional.empty(); // only the status of an encoder's answer is checked otherwise
        }
        JsonNode p = json == null ? null : json.get(EC_TRANSFER_PARAMS);
        return p == null || p.isNull() || (p.isContainerNode() && p.isEmpty()) ? Optional.empty() : Optional.of(p);
    }

    static Optional<JsonNode> merge(List<JsonNode> params) {
        if (params.size() <= 1) {
            return params.stream().findFirst();
        }
        ObjectNode merged = Json.MAPPER.createObjectNode();
        for (JsonNode p : params) {
            if (!(p instanceof ObjectNode o)) {
                throw new ApiException(
                        502, "encoders answered with " + EC_TRANSFER_PARAMS + " that is not an object: " + p, null);
            }
            merged.setAll(o);
        }
        return Optional.of(merged);
    }

    /** {@code {"model", "messages":[{"role":"user","content":[item]}], "max_tokens":1, "stream":false}}. */
    static ObjectNode encoderRequest(ObjectNode body, ObjectNode part) {
        ObjectNode req = Json.MAPPER.createObjectNode();
        JsonNode model = body.get("model");
        if (model != null) {
            req.set("model", model);
        }
        ObjectNode message = req.putArray("messages").addObject();
        message.put("role", "user");
        message.putArray("content").add(part);
        req.put("max_tokens", 1);
        req.put("stream", false);
        for (String field : MEDIA_FIELDS) {
            if (body.hasNonNull(field)) {
                req.set(field, body.get(field));
            }
        }
        return req;
    }

    private void await(CompletableFuture<Void> outcome, List<Sent> sent, RequestContext ctx) {
        try {
            outcome.get(client.timeout().toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            Node slow = sent.stream()
                    .filter(s -> !s.future.isDone())
                    .map(Sent::node)
                    .findFirst()
                    .orElse(sent.getFirst().node);
            cancelAll(sent);
            throw UpstreamFailure.timeout(slow, client.timeout());
        } catch (ExecutionException e) {
            cancelAll(sent);
            LOG.warn(
                    "[{}] encoder request failed: {}",
                    ctx.requestId(),
                    e.getCause().getMessage());
            throw e.getCause() instanceof ApiException api
                    ? api
                    : new ApiException(502, "encoder request failed: " + e.getCause(), null);
        } catch (InterruptedException e) {
            cancelAll(sent);
            Thread.currentThread().interrupt();
            throw new ApiException(503, "proxy shutting down", null);
        }
    }

    private static void cancelAll(List<Sent> sent) {
        for (Sent s : sent) {
            s.future.cancel(true);
        }
    }

    private static String shortHex() {
        return String.format("%06x", ThreadLocalRandom.current().nextInt(1 << 24));
    }

    private record Sent(Node node, CompletableFuture<HttpResponse<byte[]>> future) {}
}
