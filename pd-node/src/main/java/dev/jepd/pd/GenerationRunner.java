package dev.jepd.pd;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.generate.EngineClient;
import dev.jepd.engine.generate.EngineRequest;
import dev.jepd.engine.generate.KvHandoff;
import dev.jepd.engine.generate.RequestRejectedException;
import dev.jepd.serving.Responses;
import dev.jepd.serving.ServingMetrics;
import io.undertow.server.HttpServerExchange;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Submits a prepared request and answers with its output on this worker thread: collected into one JSON body,
 * or streamed as SSE. Records the request's token counts and latencies.
 */
final class GenerationRunner {
    private static final Logger LOG = LoggerFactory.getLogger(GenerationRunner.class);

    private final EngineClient engine;
    private final KvHandoffs kv;
    private final ServingMetrics metrics;

    GenerationRunner(EngineClient engine, KvHandoffs kv, ServingMetrics metrics) {
        this.engine = engine;
        this.kv = kv;
        this.metrics = metrics;
    }

    /** The request's {@code kv_transfer_params} as a hand-off; a 400 when this node's KV role refuses them. */
    KvHandoff handoff(JsonNode params, boolean stream) {
        return kv.handoff(params, stream);
    }

    void run(HttpServerExchange ex, EngineRequest request, Responses out, boolean stream, boolean usage, long arrival) {
        RequestEvents events = new RequestEvents();
        try {
            engine.submit(request, events);
        } catch (RequestRejectedException e) {
            throw ApiException.badRequest(e.getMessage(), e.param());
        } catch (KvTransferException e) {
            throw kvFailed(e);
        }
        // A client that goes away aborts its request, freeing its KV blocks at the next step.
        ex.getConnection().addCloseListener(conn -> engine.abort(request.id()));
        metrics.promptTokens(request.generation().promptIds().length);
        if (stream) {
            stream(ex, events, out, usage, arrival, request.id());
        } else {
            boolean held = request.kv() instanceof KvHandoff.HoldForRemote;
            collect(ex, events, out, arrival, held ? request.id() : null);
        }
    }

    private void collect(
            HttpServerExchange ex, RequestEvents events, Responses out, long arrival, String heldRequestId) {
        StringBuilder text = new StringBuilder();
        Timing timing = new Timing(arrival);
        while (true) {
            switch (next(events)) {
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
                                    heldRequestId == null ? null : kv.heldParams(heldRequestId)));
                    return;
                }
                case RequestEvents.Failure fail -> throw asApi(fail.error());
            }
        }
    }

    private void stream(
            HttpServerExchange ex, RequestEvents events, Responses out, boolean usage, long arrival, String id) {
        SseWriter sse = new SseWriter(ex);
        Timing timing = new Timing(arrival);
        boolean first = true;
        try {
            while (true) {
                switch (next(events)) {
                    case RequestEvents.Token t -> {
                        timing.token(t.nanos());
                        if (!t.delta().isEmpty()) {
                            sse.event(out.chunk(t.delta(), first, null, null));
                            first = false;
                        }
                    }
                    case RequestEvents.Finish f -> {
                        if (f.hasToken()) {
                            timing.token(f.nanos());
                        }
                        sse.event(out.chunk(f.lastDelta(), first, f.reason().wireName(), f.stopReason()));
                        if (usage) {
                            sse.event(out.usageChunk(
                                    f.usage().promptTokens(), f.usage().completionTokens()));
                        }
                        sse.done();
                        finished(f, timing);
                        return;
                    }
                    case RequestEvents.Failure fail -> {
                        ApiException api = asApi(fail.error());
                        if (!sse.started() && fail.error() instanceof KvTransferException) {
                            // The prompt's KV never arrived: nothing was sent, so answer with the HTTP error.
                            throw api;
                        }
                        sse.event(api.body());
                        sse.done();
                        return;
                    }
                }
            }
        } catch (IOException e) {
            // The client went away mid-stream.
            engine.abort(id);
            ex.endExchange();
        }
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

    private static ApiException kvFailed(KvTransferException e) {
        return new ApiException(
                502, "KV transfer from the prefill node failed: " + e.getMessage(), "kv_transfer_params");
    }

    private static ApiException asApi(RuntimeException e) {
        if (e instanceof ApiException a) {
            return a;
        }
        if (e instanceof KvTransferException k) {
            return kvFailed(k);
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
}
