package dev.jepd.pd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.HttpServer;
import dev.jepd.api.Json;
import dev.jepd.api.ServedModels;
import dev.jepd.api.Sse;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.RequestRejectedException;
import dev.jepd.engine.text.PromptException;
import dev.jepd.media.PixelBounds;
import dev.jepd.serving.EncodedImage;
import dev.jepd.serving.ModelRuntime;
import dev.jepd.serving.MultimodalInputs;
import dev.jepd.serving.RequestParser;
import dev.jepd.serving.Responses;
import dev.jepd.serving.ServingMetrics;
import dev.jepd.transfer.kv.KvTransferConfig;
import dev.jepd.transfer.kv.KvTransferParams;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.io.IOException;
import java.io.OutputStream;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The PD node's routes. Handlers translate JSON to engine calls and back; the engine thread does the work.
 */
public final class PdServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PdServer.class);

    private final ModelRuntime runtime;
    private final MultimodalInputs inputs;
    private final EngineLoop loop;
    private final ServingMetrics metrics;
    private final ServedModels served;
    private final String modelRoot;
    private final long maxBodyBytes;
    private final AtomicLong seq = new AtomicLong();
    private final HttpServer http;
    /** Null when the node has no {@code --kv-transfer-config}: then kv_transfer_params are refused. */
    private final PdKvTransfer kvTransfer;

    private final AtomicLong kvTransferFailures = new AtomicLong();

    public PdServer(
            ModelRuntime runtime,
            MultimodalInputs inputs,
            ServingMetrics metrics,
            List<String> servedNames,
            String modelRoot,
            HttpServer.Builder server,
            long maxBodyBytes,
            PdKvTransfer kvTransfer) {
        this.kvTransfer = kvTransfer;
        this.runtime = runtime;
        this.inputs = inputs;
        this.metrics = metrics;
        this.served = new ServedModels(servedNames);
        this.modelRoot = modelRoot;
        this.maxBodyBytes = maxBodyBytes;
        this.loop = new EngineLoop(runtime.engine());
        metrics.gauge(
                "vllm:num_requests_running", "Number of requests in model execution batches.", () -> runtime.engine()
                        .numRunning());
        metrics.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", () -> runtime.engine()
                .numWaiting());
        metrics.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", () -> runtime.engine()
                .kvUsage());
        metrics.gauge(
                "jepd:num_requests_aborted",
                "Requests aborted because their client went away (their KV blocks were freed).",
                () -> runtime.engine().stats().aborted());
        metrics.gauge(
                "jepd:peak_num_requests_running",
                "Most requests that ran together in one engine step since start (continuous batching at work).",
                loop::maxRunningSeen);
        metrics.gauge(
                "jepd:kv_blocks_held",
                "KV blocks a prefill node holds for decode nodes (until confirmed or their lease expires).",
                () -> runtime.engine().heldBlocks());
        metrics.gauge(
                "jepd:kv_leases_confirmed_total",
                "Held prompts freed because their decode node confirmed its copy.",
                () -> runtime.engine().leases().releasedTotal());
        metrics.gauge(
                "jepd:kv_leases_expired_total",
                "Held prompts freed because no decode node confirmed them within the lease.",
                () -> runtime.engine().leases().expiredTotal());
        metrics.gauge(
                "jepd:kv_remote_prefill_tokens_total",
                "Prompt tokens whose KV a decode node loaded from a prefill node instead of computing.",
                () -> runtime.engine().stats().remoteKvTokens());
        metrics.gauge(
                "jepd:kv_nixl_pulls_total",
                "KV pulls this decode node read with NIXL (the rest, if any, went over JEPD's TCP side channel).",
                () -> kvTransfer == null ? 0 : kvTransfer.nixlPulls());
        metrics.gauge(
                "jepd:kv_transfer_failures_total",
                "KV pulls from a prefill node that failed (answered with an error, or recomputed by policy).",
                kvTransferFailures::get);
        this.http = server.get("/health", ex -> ex.setStatusCode(200))
                .get(
                        "/version",
                        ex -> Json.send(ex, 200, Json.MAPPER.createObjectNode().put("version", "jepd 0.1.0")))
                .get("/metrics", metrics.handler())
                .get(
                        "/v1/models",
                        ex -> Json.send(
                                ex,
                                200,
                                Responses.models(
                                        servedNames.getFirst(),
                                        modelRoot,
                                        runtime.engine().config().maxModelLen())))
                .post("/v1/chat/completions", this::chat)
                .post("/v1/completions", this::completion)
                .post("/start_profile", ex -> ex.setStatusCode(200))
                .post("/stop_profile", ex -> ex.setStatusCode(200))
                .start();
    }

    public int port() {
        return http.port();
    }

    public EngineLoop loop() {
        return loop;
    }

    /** The request's kv_transfer_params, checked against this node's role; null when there are none. */
    private KvTransferParams kvParams(JsonNode node) {
        KvTransferParams kv;
        try {
            kv = KvTransferParams.parse(node);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage(), "kv_transfer_params");
        }
        if (kv == null || (!kv.doRemoteDecode() && !kv.doRemotePrefill())) {
            return null;
        }
        if (kvTransfer == null) {
            throw ApiException.badRequest(
                    "kv_transfer_params: this node was started without --kv-transfer-config, so it takes no part in"
                            + " prefill/decode disaggregation",
                    "kv_transfer_params");
        }
        KvTransferConfig cfg = kvTransfer.config();
        if (kv.doRemoteDecode() && !cfg.isProducer()) {
            throw ApiException.badRequest(
                    "kv_transfer_params.do_remote_decode: this node is "
                            + cfg.role().jsonName() + ", only kv_producer or kv_both nodes prefill for a remote decode",
                    "kv_transfer_params");
        }
        if (kv.doRemotePrefill() && !cfg.isConsumer()) {
            throw ApiException.badRequest(
                    "kv_transfer_params.do_remote_prefill: this node is "
                            + cfg.role().jsonName()
                            + ", only kv_consumer or kv_both nodes decode from a remote prefill",
                    "kv_transfer_params");
        }
        return kv;
    }

    private String responseId(HttpServerExchange ex, String prefix) {
        String given = ex.getRequestHeaders().getFirst(HttpServer.REQUEST_ID);
        String base = given != null && !given.isBlank()
                ? given
                : UUID.randomUUID().toString().replace("-", "");
        return prefix + base;
    }

    private void chat(HttpServerExchange ex) {
        long arrival = System.nanoTime();
        ObjectNode body = Json.readObject(ex, maxBodyBytes);
        RequestParser.Chat c = RequestParser.chat(body);
        String model = served.resolve(c.model());
        KvTransferParams kv = kvParams(c.kvTransferParams());
        PixelBounds bounds = inputs.bounds(c.mmProcessorKwargs());
        List<MultimodalInputs.Item> items = inputs.load(c.images(), c.hasProcessorKwargs(), bounds);
        List<EncodedImage> encoded = items.isEmpty() ? List.of() : inputs.resolve(items, bounds);
        String id = responseId(ex, "chatcmpl-");
        GenerationRequest request;
        try {
            request = runtime.prepare(id + "#" + seq.incrementAndGet(), c.messages(), encoded, c.sampling());
        } catch (PromptException e) {
            throw ApiException.badRequest(e.getMessage(), "messages");
        } catch (RequestRejectedException e) {
            throw ApiException.badRequest(e.getMessage(), e.param());
        }
        run(ex, request, new Responses(id, model, true), c.stream(), c.includeUsage(), arrival, kv);
    }

    private void completion(HttpServerExchange ex) {
        long arrival = System.nanoTime();
        ObjectNode body = Json.readObject(ex, maxBodyBytes);
        RequestParser.Completion c = RequestParser.completion(body);
        String model = served.resolve(c.model());
        KvTransferParams kv = kvParams(c.kvTransferParams());
        if (c.echo()) {
            throw ApiException.badRequest("echo is not supported", "echo");
        }
        String id = responseId(ex, "cmpl-");
        GenerationRequest request;
        try {
            String internal = id + "#" + seq.incrementAndGet();
            request = c.prompt() != null
                    ? runtime.prepareText(internal, c.prompt(), c.sampling())
                    : runtime.prepareTokens(internal, c.promptTokenIds(), c.sampling());
        } catch (RequestRejectedException e) {
            throw ApiException.badRequest(e.getMessage(), e.param());
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage(), "prompt");
        }
        run(ex, request, new Responses(id, model, false), c.stream(), c.includeUsage(), arrival, kv);
    }

    /** Submits, then streams or collects the output on this worker thread. */
    private void run(
            HttpServerExchange ex,
            GenerationRequest request,
            Responses out,
            boolean stream,
            boolean usage,
            long arrival,
            KvTransferParams kv) {
        RequestEvents events = new RequestEvents();
        // A prefill for a remote decode holds its blocks only when it answers in one piece, as the proxy asks:
        // a stream has nowhere to put the kv_transfer_params.
        boolean hold = kv != null && kv.doRemoteDecode() && !stream;
        try {
            if (hold) {
                loop.submitForRemoteDecode(request, events, kvTransfer.config().lease());
            } else if (kv != null && kv.doRemotePrefill()) {
                KvBlocks pulled = pull(kv, request);
                if (pulled != null) {
                    loop.submitWithRemoteKv(request, events, pulled);
                } else {
                    loop.submit(request, events);
                }
            } else {
                loop.submit(request, events);
            }
        } catch (RequestRejectedException e) {
            throw ApiException.badRequest(e.getMessage(), e.param());
        }
        // A client that goes away aborts its request, freeing its KV blocks at the next step.
        ex.getConnection().addCloseListener(conn -> loop.abort(request.id()));
        metrics.promptTokens(request.promptIds().length);
        if (stream) {
            stream(ex, events, out, usage, arrival, request.id());
        } else {
            collect(ex, events, out, arrival, hold ? request.id() : null);
        }
    }

    /**
     * Pulls the prompt's KV from the prefill node named in {@code kv} and confirms, so it frees its blocks.
     * Returns null when the pull failed and the policy is to recompute; a failure otherwise is a 502.
     */
    private KvBlocks pull(KvTransferParams kv, GenerationRequest request) {
        KvBlocks pulled;
        try {
            pulled = kvTransfer
                    .transport()
                    .pull(kv, request.promptIds().length, runtime.engine().layout());
        } catch (KvTransferException e) {
            kvTransferFailures.incrementAndGet();
            if (kvTransfer.config().failurePolicy() == KvTransferConfig.FailurePolicy.RECOMPUTE) {
                LOG.warn(
                        "[{}] KV pull failed, prefilling locally (kv_load_failure_policy recompute): {}",
                        request.id(),
                        e.getMessage());
                return null;
            }
            throw new ApiException(
                    502, "KV transfer from the prefill node failed: " + e.getMessage(), "kv_transfer_params");
        }
        try {
            kvTransfer.transport().confirm(kv);
        } catch (KvTransferException e) {
            // We have our copy; the prefill node frees the blocks when their lease expires.
            LOG.warn("[{}] KV confirm failed: {}", request.id(), e.getMessage());
        }
        return pulled;
    }

    /** The kv_transfer_params a prefill node answers with for a request whose blocks it now holds. */
    private JsonNode heldParams(String requestId) {
        int[] ids = runtime.engine().heldBlockIds(requestId);
        if (ids == null) {
            return null; // the lease already ended: the decode node will prefill by itself
        }
        return KvTransferParams.held(
                        kvTransfer.engineId(),
                        ids,
                        requestId,
                        kvTransfer.advertisedHost(),
                        kvTransfer.sideChannelPort())
                .toJson();
    }

    private void collect(
            HttpServerExchange ex, RequestEvents events, Responses out, long arrival, String heldRequestId) {
        StringBuilder text = new StringBuilder();
        Timing timing = new Timing(arrival);
        while (true) {
            RequestEvents.Event e = next(events);
            switch (e) {
                case RequestEvents.Token t -> {
                    timing.token(t.nanos());
                    text.append(t.delta());
                }
                case RequestEvents.Finish f -> {
                    if (f.hasToken()) {
                        timing.token(f.nanos());
                    }
                    text.append(f.lastDelta());
                    finished(f, timing);
                    Json.send(
                            ex,
                            200,
                            out.complete(
                                    text.toString(),
                                    f.reason().wireName(),
                                    f.stopReason(),
                                    f.usage().promptTokens(),
                                    f.usage().completionTokens(),
                                    heldRequestId == null ? null : heldParams(heldRequestId)));
                    return;
                }
                case RequestEvents.Failure fail -> throw asApi(fail.error());
            }
        }
    }

    private void stream(
            HttpServerExchange ex, RequestEvents events, Responses out, boolean usage, long arrival, String id) {
        ex.setStatusCode(200);
        ex.getResponseHeaders().put(Headers.CONTENT_TYPE, Sse.CONTENT_TYPE);
        ex.getResponseHeaders().put(Headers.CACHE_CONTROL, "no-cache");
        OutputStream os = ex.getOutputStream();
        Timing timing = new Timing(arrival);
        boolean first = true;
        try {
            while (true) {
                RequestEvents.Event e = next(events);
                switch (e) {
                    case RequestEvents.Token t -> {
                        timing.token(t.nanos());
                        if (!t.delta().isEmpty()) {
                            write(os, Sse.event(out.chunk(t.delta(), first, null, null)));
                            first = false;
                        }
                    }
                    case RequestEvents.Finish f -> {
                        if (f.hasToken()) {
                            timing.token(f.nanos());
                        }
                        write(
                                os,
                                Sse.event(out.chunk(
                                        f.lastDelta(), first, f.reason().wireName(), f.stopReason())));
                        if (usage) {
                            write(
                                    os,
                                    Sse.event(out.usageChunk(
                                            f.usage().promptTokens(), f.usage().completionTokens())));
                        }
                        write(os, Sse.DONE);
                        finished(f, timing);
                        ex.endExchange();
                        return;
                    }
                    case RequestEvents.Failure fail -> {
                        ApiException api = asApi(fail.error());
                        write(os, Sse.event(api.body()));
                        write(os, Sse.DONE);
                        ex.endExchange();
                        return;
                    }
                }
            }
        } catch (IOException e) {
            // The client went away mid-stream.
            loop.abort(id);
            ex.endExchange();
        }
    }

    private static void write(OutputStream os, byte[] bytes) throws IOException {
        os.write(bytes);
        os.flush();
    }

    private RequestEvents.Event next(RequestEvents events) {
        try {
            RequestEvents.Event e;
            while ((e = events.take(1000)) == null) {
                // Nothing yet: keep waiting; the engine thread owns progress and failures.
            }
            return e;
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw new ApiException(503, "server is shutting down", null);
        }
    }

    private void finished(RequestEvents.Finish f, Timing timing) {
        metrics.generationTokens(f.usage().completionTokens());
        metrics.requestSuccess(f.reason().wireName());
        metrics.e2eLatency((System.nanoTime() - timing.arrival) / 1e9);
    }

    private ApiException asApi(RuntimeException e) {
        if (e instanceof ApiException a) {
            return a;
        }
        LOG.error("request failed in the engine", e);
        return new ApiException(500, "generation failed: " + e.getClass().getSimpleName(), null);
    }

    /** TTFT and inter-token latency of one request into the histograms. */
    private final class Timing {
        final long arrival;
        long last;

        Timing(long arrival) {
            this.arrival = arrival;
        }

        void token(long nanos) {
            if (last == 0) {
                metrics.timeToFirstToken((nanos - arrival) / 1e9);
            } else {
                metrics.interTokenLatency((nanos - last) / 1e9);
            }
            last = nanos;
        }
    }

    @Override
    public void close() {
        http.close();
        loop.close();
    }
}
