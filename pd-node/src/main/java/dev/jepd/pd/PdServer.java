package dev.jepd.pd;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.engine.api.RequestParser;
import dev.jepd.engine.api.Responses;
import dev.jepd.engine.api.ServedModels;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.RequestRejectedException;
import dev.jepd.engine.http.ApiException;
import dev.jepd.engine.http.HttpServer;
import dev.jepd.engine.http.Json;
import dev.jepd.engine.http.Sse;
import dev.jepd.engine.media.PixelBounds;
import dev.jepd.engine.metrics.ServingMetrics;
import dev.jepd.engine.text.PromptException;
import dev.jepd.models.runtime.EncodedImage;
import dev.jepd.models.runtime.ModelRuntime;
import dev.jepd.models.runtime.MultimodalInputs;
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

    public PdServer(
            ModelRuntime runtime,
            MultimodalInputs inputs,
            ServingMetrics metrics,
            List<String> servedNames,
            String modelRoot,
            HttpServer.Builder server,
            long maxBodyBytes) {
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

    private static void rejectRemoteKv(com.fasterxml.jackson.databind.JsonNode kv) {
        if (kv != null
                && !kv.isNull()
                && (kv.path("do_remote_decode").asBoolean(false)
                        || kv.path("do_remote_prefill").asBoolean(false))) {
            throw ApiException.badRequest(
                    "kv_transfer_params: prefill/decode disaggregation is not available on this node yet",
                    "kv_transfer_params");
        }
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
        rejectRemoteKv(c.kvTransferParams());
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
        run(ex, request, new Responses(id, model, true), c.stream(), c.includeUsage(), arrival);
    }

    private void completion(HttpServerExchange ex) {
        long arrival = System.nanoTime();
        ObjectNode body = Json.readObject(ex, maxBodyBytes);
        RequestParser.Completion c = RequestParser.completion(body);
        String model = served.resolve(c.model());
        rejectRemoteKv(c.kvTransferParams());
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
        run(ex, request, new Responses(id, model, false), c.stream(), c.includeUsage(), arrival);
    }

    /** Submits, then streams or collects the output on this worker thread. */
    private void run(
            HttpServerExchange ex,
            GenerationRequest request,
            Responses out,
            boolean stream,
            boolean usage,
            long arrival) {
        RequestEvents events = new RequestEvents();
        try {
            loop.submit(request, events);
        } catch (RequestRejectedException e) {
            throw ApiException.badRequest(e.getMessage(), e.param());
        }
        // A client that goes away aborts its request, freeing its KV blocks at the next step.
        ex.getConnection().addCloseListener(conn -> loop.abort(request.id()));
        metrics.promptTokens(request.promptIds().length);
        if (stream) {
            stream(ex, events, out, usage, arrival, request.id());
        } else {
            collect(ex, events, out, arrival);
        }
    }

    private void collect(HttpServerExchange ex, RequestEvents events, Responses out, long arrival) {
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
                                    null));
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
