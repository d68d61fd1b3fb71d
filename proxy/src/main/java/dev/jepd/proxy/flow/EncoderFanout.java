package dev.jepd.proxy.flow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.proxy.items.ImageCost;
import dev.jepd.proxy.items.MediaItem;
import dev.jepd.proxy.upstream.AsyncUpstream;
import dev.jepd.proxy.upstream.ClientWatch;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Lease;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Reply;
import dev.jepd.proxy.upstream.UpstreamClient;
import dev.jepd.proxy.upstream.UpstreamFailure;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xnio.XnioExecutor;
import org.xnio.XnioIoThread;

/**
 * Sends every media item of a request alone to an encoder (DESIGN §4.3), all at once, and returns when each
 * item is settled: an encoder writes the item's EC file before it answers 2xx, so the decode node will find it.
 *
 * <p><b>Failover.</b> An encoder that fails (refused, reset, timed out, 5xx) is evicted where it is
 * unreachable, and the item is retried on another healthy encoder it has not tried. When none is left, or at
 * once when an encoder answers 507 ({@code ECStoreError}: it could not write the EC store the encoders share),
 * the item is left to the PD (or P) node, which encodes an item it does not find in the encoder cache itself, as
 * vLLM's consumer does on a miss: the request still succeeds. Only a 4xx (the item itself is bad: an
 * undecodable image) fails the request, with the encoder's status and body.
 *
 * <p><b>Dedup.</b> Requests in flight that carry the same item (same model, uuid and media kwargs, so the same
 * EC key) share one encoder call: the first sends it, the others wait for its outcome. A success is
 * remembered for {@code dedupWindow} more (0: only calls in flight are shared), so that a burst that arrives
 * just after the first answer does not encode again; an EC entry evicted meanwhile is encoded by the PD node.
 *
 * <p>What the encoders answer with at top level as {@code ec_transfer_params} is returned for the prefill
 * request, as raw JSON: one answer's value verbatim; several answers' objects merged key by key (each
 * encoder's keys name its own items). Answers without it (JEPD's shared-storage encoder today) add nothing.
 */
public final class EncoderFanout {
    private static final Logger LOG = LoggerFactory.getLogger(EncoderFanout.class);
    private static final String PATH = "/v1/chat/completions";
    public static final String EC_TRANSFER_PARAMS = "ec_transfer_params";
    /** An encoder's answer when its EC write failed ({@code ECStoreError}): a miss, not a failed request. */
    static final int EC_STORE_ERROR = 507;
    /** Request fields the encoder needs to compute the same key and the same pixels as the decode node. */
    private static final List<String> MEDIA_FIELDS = List.of("mm_processor_kwargs", "media_io_kwargs");

    private final Cluster encoders;
    private final UpstreamClient client;
    private final ImageCost cost;
    private final long dedupWindowNanos;
    private final Map<String, Encode> encodes = new ConcurrentHashMap<>();
    private final AtomicLong calls = new AtomicLong();
    private final AtomicLong shared = new AtomicLong();
    private final AtomicLong fallbacks = new AtomicLong();

    public EncoderFanout(Cluster encoders, UpstreamClient client, ImageCost cost, Duration dedupWindow) {
        this.encoders = encoders;
        this.client = client;
        this.cost = cost;
        this.dedupWindowNanos = dedupWindow.toNanos();
    }

    /** How one item ended: encoded (with its params, if any), left to the PD node, or rejected (4xx). */
    private record Outcome(Optional<JsonNode> params, boolean fallback, ApiException rejected) {
        static Outcome encoded(Optional<JsonNode> params) {
            return new Outcome(params, false, null);
        }

        static Outcome leftToPd() {
            return new Outcome(Optional.empty(), true, null);
        }
    }

    /** One encoder call, shared by every request carrying its item while it runs (and for the window after). */
    private static final class Encode {
        final CompletableFuture<Outcome> outcome = new CompletableFuture<>();
        volatile long doneAt;

        boolean reusable(long now, long window) {
            if (!outcome.isDone()) {
                return true;
            }
            Outcome o = outcome.getNow(null);
            return o != null && !o.fallback && o.rejected == null && now - doneAt < window;
        }
    }

    /** Encoder calls sent, calls saved by dedup, items left to the PD node (for {@code /instances}). */
    public Map<String, Long> counters() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("encoder_calls", calls.get());
        m.put("dedup_shared", shared.get());
        m.put("left_to_pd", fallbacks.get());
        return m;
    }

    /** Forgets remembered outcomes older than the window (called now and then, to bound memory). */
    public void sweep() {
        long now = System.nanoTime();
        encodes.entrySet()
                .removeIf(e -> e.getValue().outcome.isDone() && !e.getValue().reusable(now, dedupWindowNanos));
    }

    /** Encodes every item; returns the encoders' {@code ec_transfer_params}, if any answered with some. */
    public Optional<JsonNode> run(ObjectNode body, List<MediaItem> items, RequestContext ctx) {
        List<Work> work = distinct(body, items);
        List<CompletableFuture<Outcome>> pending = new ArrayList<>();
        for (int i = 0; i < work.size(); i++) {
            Work w = work.get(i);
            boolean inline = i == work.size() - 1; // the last one runs here, the others at once beside it
            pending.add(shared(w, body, ctx, (first, call) -> {
                Runnable run = () -> {
                    try {
                        call.outcome.complete(attempts(call, ctx, first));
                    } catch (RuntimeException e) {
                        call.outcome.completeExceptionally(e);
                    }
                };
                if (inline) {
                    run.run(); // a request's only item: encoded on its own thread, no hand-off
                } else {
                    Thread.startVirtualThread(run);
                }
            }));
        }
        List<Outcome> outcomes = new ArrayList<>();
        for (CompletableFuture<Outcome> f : pending) {
            outcomes.add(await(f, ctx));
        }
        return settle(outcomes, ctx);
    }

    /**
     * As {@link #run}, without blocking, for a request served on an IO thread: every encoder call is made through
     * {@code upstream} on {@code io}, and {@code done} is called there once, with the encoders' params or with the
     * failure the client should see ({@code ApiException}).
     */
    public void runAsync(
            ObjectNode body,
            List<MediaItem> items,
            RequestContext ctx,
            XnioIoThread io,
            AsyncUpstream upstream,
            AsyncUpstream.Cut cut,
            BiConsumer<Optional<JsonNode>, RuntimeException> done) {
        List<Work> work = distinct(body, items);
        if (work.isEmpty()) {
            done.accept(Optional.empty(), null);
            return;
        }
        List<CompletableFuture<Outcome>> pending = new ArrayList<>();
        for (Work w : work) {
            pending.add(shared(w, body, ctx, (first, call) -> attemptAsync(call, ctx, first, io, upstream, cut)));
        }
        CompletableFuture<Void> all = CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new));
        XnioExecutor.Key[] guard = {null};
        Runnable finish = () -> {
            if (guard[0] != null) {
                guard[0].remove();
            }
            Optional<JsonNode> params;
            try {
                if (all.isCompletedExceptionally() && pending.stream().anyMatch(f -> !f.isDone())) {
                    LOG.warn("[{}] encoders did not settle in time; the PD node encodes", ctx.requestId());
                    done.accept(Optional.empty(), null);
                    return;
                }
                List<Outcome> outcomes = new ArrayList<>();
                for (CompletableFuture<Outcome> f : pending) {
                    outcomes.add(f.join());
                }
                params = settle(outcomes, ctx);
            } catch (CompletionException e) {
                done.accept(null, failure(e.getCause()));
                return;
            } catch (RuntimeException e) {
                done.accept(null, e);
                return;
            }
            done.accept(params, null);
        };
        if (all.isDone()) {
            finish.run();
            return;
        }
        // The deadline guards against a lost completion, as await's does (each try ends within the time-out).
        guard[0] = io.executeAfter(
                () -> all.completeExceptionally(new ApiException(504, "encoders did not settle in time", null)),
                upstream.timeout().toMillis() * (encoders.members().size() + 1L),
                TimeUnit.MILLISECONDS);
        all.whenComplete((v, t) -> io.execute(finish)); // back on the request's own IO thread
    }

    /** One distinct item of a request: its dedup key and its index among the request's items. */
    private record Work(String key, MediaItem item, int idx) {}

    /** The items that need an encoder, each once (the same item twice in one request is encoded once). */
    private List<Work> distinct(ObjectNode body, List<MediaItem> items) {
        if (items.isEmpty() || encoders.isEmpty()) {
            return List.of(); // no encode cluster: the decode node encodes its images itself
        }
        Set<String> seen = new HashSet<>();
        List<Work> work = new ArrayList<>();
        for (int idx = 0; idx < items.size(); idx++) {
            MediaItem item = items.get(idx);
            if (item.source() == null) {
                continue;
            }
            String key = dedupKey(body, item);
            if (seen.add(key)) {
                work.add(new Work(key, item, idx));
            }
        }
        return work;
    }

    /** The outcomes of a request's items as the params for the next node, or the rejection the client sees. */
    private Optional<JsonNode> settle(List<Outcome> outcomes, RequestContext ctx) {
        List<JsonNode> params = new ArrayList<>();
        int left = 0;
        for (Outcome o : outcomes) {
            if (o.rejected != null) {
                throw o.rejected;
            }
            if (o.fallback) {
                left++;
            }
            o.params.ifPresent(params::add);
        }
        if (left > 0) {
            LOG.warn(
                    "[{}] {} of {} item(s) left to the PD node to encode (no encoder could)",
                    ctx.requestId(),
                    left,
                    outcomes.size());
        }
        return merge(params);
    }

    /** One item's encoder call, as its tries need it: the request, its cost, its EC key and the nodes tried. */
    private record Call(
            byte[] request,
            long charge,
            String ecKey,
            String childBase,
            Set<Node> tried,
            CompletableFuture<Outcome> outcome) {
        List<String> keys() {
            return ecKey == null ? List.of() : List.of(ecKey);
        }
    }

    /** Starts the tries of a call (on this thread, beside it, or on an IO thread), completing its outcome. */
    private interface Starter {
        void start(Lease first, Call call);
    }

    /** The item's shared encode: joined if one runs (or succeeded within the window), else started here. */
    private CompletableFuture<Outcome> shared(Work w, ObjectNode body, RequestContext ctx, Starter starter) {
        long now = System.nanoTime();
        while (true) {
            Encode existing = encodes.get(w.key);
            if (existing != null && existing.reusable(now, dedupWindowNanos)) {
                shared.incrementAndGet();
                return existing.outcome;
            }
            Encode mine = new Encode();
            boolean won = existing == null
                    ? encodes.putIfAbsent(w.key, mine) == null
                    : encodes.replace(w.key, existing, mine);
            if (!won) {
                continue;
            }
            mine.outcome.whenComplete((o, t) -> {
                mine.doneAt = System.nanoTime();
                if (t != null || o.fallback || o.rejected != null || dedupWindowNanos <= 0) {
                    encodes.remove(w.key, mine);
                }
            });
            MediaItem item = w.item;
            byte[] request = Json.bytes(encoderRequest(body, item.part()));
            long charge = encoders.usesCost() ? cost.tokens(item) : 1;
            Call call = new Call(
                    request, charge, item.uuid(), ctx.requestId() + ":" + w.idx, new HashSet<>(), mine.outcome);
            // The first node is picked here, in the request's item order, so that least-loaded routing charges
            // the items in order whatever thread runs them.
            starter.start(encoders.acquire(charge, call.tried, call.keys(), false), call);
            return mine.outcome;
        }
    }

    /** Tries healthy encoders not tried yet until one answers; none left: the PD node encodes the item. */
    private Outcome attempts(Call call, RequestContext ctx, Lease first) {
        Lease next = first;
        while (true) {
            Lease lease = nextTry(call, next);
            next = null;
            if (lease == null) {
                return Outcome.leftToPd();
            }
            Node node = lease.node();
            Outcome verdict;
            try (lease) {
                Reply r = client.exchange(
                        node,
                        PATH,
                        call.request,
                        ctx.headers(call.childBase + ":" + shortHex()),
                        client.timeout(),
                        ctx.watch());
                verdict = verdict(lease, r, null, call, ctx);
            } catch (ClientWatch.Gone e) {
                // This request's client left. A request sharing this encode (dedup) lets its PD node encode it.
                return Outcome.leftToPd();
            } catch (IOException e) {
                verdict = verdict(lease, null, UpstreamFailure.transport(node, e, client.timeout()), call, ctx);
            }
            if (verdict != null) {
                return verdict;
            }
        }
    }

    /**
     * The encoder of a call's next try ({@code first}, or a healthy one it has not tried), counted as tried and as
     * an encoder call; null, counted as left to the PD node, when none is left.
     */
    private Lease nextTry(Call call, Lease first) {
        Lease lease = first != null ? first : encoders.acquire(call.charge, call.tried, call.keys(), false);
        if (lease == null) {
            fallbacks.incrementAndGet();
            return null;
        }
        call.tried.add(lease.node());
        calls.incrementAndGet();
        return lease;
    }

    /** As {@link #attempts}, each try a non-blocking call on {@code io}; completes the call's outcome there. */
    private void attemptAsync(
            Call call,
            RequestContext ctx,
            Lease first,
            XnioIoThread io,
            AsyncUpstream upstream,
            AsyncUpstream.Cut cut) {
        Lease lease = nextTry(call, first);
        if (lease == null) {
            call.outcome.complete(Outcome.leftToPd());
            return;
        }
        Node node = lease.node();
        upstream.exchange(
                io,
                node,
                PATH,
                call.request,
                ctx.headers(call.childBase + ":" + shortHex()),
                cut,
                new AsyncUpstream.Callback<>() {
                    @Override
                    public void completed(Reply r) {
                        lease.close();
                        next(verdict(lease, r, null, call, ctx));
                    }

                    @Override
                    public void failed(ApiException e) {
                        lease.close();
                        if (cut.cancelled()) {
                            call.outcome.complete(Outcome.leftToPd()); // as in attempts: the client left
                            return;
                        }
                        next(verdict(lease, null, e, call, ctx));
                    }

                    private void next(Outcome verdict) {
                        if (verdict != null) {
                            call.outcome.complete(verdict);
                        } else {
                            attemptAsync(call, ctx, null, io, upstream, cut);
                        }
                    }
                });
    }

    /**
     * What one encoder's answer ({@code r}) or failure means for the item: its outcome, or null when another
     * encoder should be tried (the node evicted first where it is unreachable).
     */
    private Outcome verdict(Lease lease, Reply r, ApiException failure, Call call, RequestContext ctx) {
        Node node = lease.node();
        ApiException error = failure;
        if (r != null) {
            if (r.statusCode() / 100 == 2) {
                if (call.ecKey != null) {
                    encoders.remember(call.ecKey, node);
                }
                return Outcome.encoded(ecTransferParams(r.body()));
            }
            if (r.statusCode() == EC_STORE_ERROR) {
                // The encoder computed the item but could not store it (EC disk full, read-only ...). The
                // encoders share that store, so another would fail the same way: the PD node encodes it.
                LOG.warn(
                        "[{}] encoder {} could not store the item (507); the PD node encodes it",
                        ctx.requestId(),
                        node);
                fallbacks.incrementAndGet();
                return Outcome.leftToPd();
            }
            error = UpstreamFailure.status(node, r.statusCode(), r.body(), r.closing());
        }
        if (!UpstreamFailure.retryable(error)) {
            return new Outcome(Optional.empty(), false, error);
        }
        if (UpstreamFailure.unreachable(error)) {
            lease.member().evict(error.getMessage());
        }
        LOG.warn("[{}] encoder failed, trying another: {}", ctx.requestId(), error.getMessage());
        return null;
    }

    private Outcome await(CompletableFuture<Outcome> f, RequestContext ctx) {
        // Each try ends within the upstream time-out; a bound over all of them guards against a lost completion.
        long deadline = System.nanoTime()
                + client.timeout().toNanos() * (encoders.members().size() + 1L);
        try {
            while (true) {
                // In slices, so that a client that leaves cuts the encoder calls at once (the watch closes them).
                try {
                    Outcome o = f.get(ClientWatch.PROBE_MILLIS, TimeUnit.MILLISECONDS);
                    ctx.watch().throwIfCancelled();
                    return o;
                } catch (TimeoutException e) {
                    if (ctx.watch().check()) {
                        throw new ClientWatch.Gone();
                    }
                    if (System.nanoTime() - deadline > 0) {
                        LOG.warn("[{}] encoders did not settle in time; the PD node encodes", ctx.requestId());
                        return Outcome.leftToPd();
                    }
                }
            }
        } catch (ExecutionException e) {
            throw failure(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(503, "proxy shutting down", null);
        }
    }

    /** What the client sees when an item's encode ended in an exception: its own error, or a 502. */
    private static ApiException failure(Throwable cause) {
        return cause instanceof ApiException api
                ? api
                : new ApiException(502, "encoder request failed: " + cause, null);
    }

    /** What makes two items the same encoder work: model, uuid (the EC key) and the kwargs that shape pixels. */
    static String dedupKey(ObjectNode body, MediaItem item) {
        StringBuilder k = new StringBuilder();
        k.append(body.path("model").asText("")).append('\n');
        k.append(item.uuid() != null ? item.uuid() : item.source());
        for (String field : MEDIA_FIELDS) {
            JsonNode v = body.get(field);
            if (v != null && !v.isNull()) {
                k.append('\n').append(field).append('=').append(v);
            }
        }
        return k.toString();
    }

    /** The top-level {@code ec_transfer_params} of one encoder answer; empty when absent, null or empty. */
    static Optional<JsonNode> ecTransferParams(byte[] answer) {
        if (!contains(answer, EC_TRANSFER_PARAMS_BYTES)) {
            return Optional.empty(); // most answers (shared-storage encoders) carry none: no parse
        }
        JsonNode json;
        try {
            json = Json.MAPPER.readTree(answer);
        } catch (IOException e) {
            return Optional.empty(); // only the status of an encoder's answer is checked otherwise
        }
        JsonNode p = json == null ? null : json.get(EC_TRANSFER_PARAMS);
        return p == null || p.isNull() || (p.isContainerNode() && p.isEmpty()) ? Optional.empty() : Optional.of(p);
    }

    private static final byte[] EC_TRANSFER_PARAMS_BYTES =
            ("\"" + EC_TRANSFER_PARAMS + "\"").getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private static boolean contains(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
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

    private static String shortHex() {
        return HexFormat.of()
                .toHexDigits(ThreadLocalRandom.current().nextInt(1 << 24))
                .substring(2);
    }
}
