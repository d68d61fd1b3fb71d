package dev.jepd.pd;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.ClientConnection;
import dev.jepd.api.Json;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.generate.EngineClient;
import dev.jepd.engine.generate.EngineRequest;
import dev.jepd.engine.generate.KvHandoff;
import dev.jepd.engine.generate.RequestRejectedException;
import dev.jepd.serving.Responses;
import dev.jepd.serving.ServingLimits;
import dev.jepd.serving.ServingMetrics;
import io.undertow.server.HttpServerExchange;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xnio.IoUtils;

/**
 * Submits a prepared request and answers with its output on this worker thread: collected into one JSON body,
 * or streamed as SSE. Records the request's token counts and latencies.
 */
final class GenerationRunner {
    private static final Logger LOG = LoggerFactory.getLogger(GenerationRunner.class);

    private final EngineClient engine;
    private final KvHandoffs kv;
    private final ServingMetrics metrics;
    private final ServingLimits limits;

    GenerationRunner(EngineClient engine, KvHandoffs kv, ServingMetrics metrics, ServingLimits limits) {
        this.engine = engine;
        this.kv = kv;
        this.metrics = metrics;
        this.limits = limits;
    }

    /** The request's {@code kv_transfer_params} as a hand-off; a 400 when this node's KV role refuses them. */
    KvHandoff handoff(JsonNode params, boolean stream) {
        return kv.handoff(params, stream);
    }

    /**
     * Runs {@code request} and answers on this worker thread. {@code requestTimeout} is the request's own deadline
     * in seconds (null: the node's, if any).
     */
    void run(
            HttpServerExchange ex,
            EngineRequest request,
            Responses out,
            boolean stream,
            boolean usage,
            long arrival,
            Double requestTimeout) {
        RequestEvents events = new RequestEvents();
        int waiting = limits.maxWaitingRequests();
        if (waiting > 0 && engine.numWaiting() >= waiting) {
            metrics.requestOverloaded();
            throw new ApiException(
                            503, "server overloaded: " + waiting + " requests already waiting; retry later", null)
                    .withRetryAfter(1);
        }
        try {
            engine.submit(request, events);
        } catch (RequestRejectedException e) {
            throw ApiException.badRequest(e.getMessage(), e.param());
        } catch (KvTransferException e) {
            throw kvFailed(e);
        }
        metrics.promptTokens(request.generation().promptIds().length);
        // From here on the request runs until it ends, its deadline passes or its client goes away (streaming or
        // not: the wait below probes the socket), whichever comes first; the last two abort it in the engine, which
        // frees its KV blocks at the next step.
        Waiter waiter = new Waiter(ex, events, request.id(), limits.deadlineNanos(arrival, requestTimeout));
        try {
            if (stream) {
                stream(ex, waiter, out, usage, arrival);
            } else {
                boolean held = request.kv() instanceof KvHandoff.HoldForRemote;
                collect(ex, waiter, out, arrival, held ? request.id() : null);
            }
        } catch (ClientGone gone) {
            IoUtils.safeClose(ex.getConnection());
        }
    }

    private void collect(HttpServerExchange ex, Waiter events, Responses out, long arrival, String heldRequestId) {
        StringBuilder text = new StringBuilder();
        Timing timing = new Timing(arrival);
        while (true) {
            switch (events.next()) {
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

    private void stream(HttpServerExchange ex, Waiter events, Responses out, boolean usage, long arrival) {
        SseWriter sse = new SseWriter(ex);
        Timing timing = new Timing(arrival);
        boolean first = true;
        try {
            while (true) {
                RequestEvents.Event event;
                try {
                    event = events.next();
                } catch (ApiException deadline) {
                    if (!sse.started()) {
                        throw deadline;
                    }
                    sse.event(deadline.body());
                    sse.done();
                    return;
                }
                switch (event) {
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
            engine.abort(events.requestId);
            throw new ClientGone();
        }
    }

    /** The client closed its connection: the request was aborted and nothing more is sent. */
    private static final class ClientGone extends RuntimeException {
        ClientGone() {
            super(null, null, false, false);
        }
    }

    /** Takes a request's next event, watching its client and its deadline while it waits. */
    private final class Waiter {
        /** How often a waiting worker looks at its client's socket and the clock. */
        private static final long POLL_MILLIS = 100;

        private static final long POLL_NANOS = POLL_MILLIS * 1_000_000;

        private final HttpServerExchange ex;
        private final RequestEvents events;
        private final String requestId;
        private final long deadlineNanos; // Long.MAX_VALUE: none
        private long lastCheck = System.nanoTime();

        Waiter(HttpServerExchange ex, RequestEvents events, String requestId, long deadlineNanos) {
            this.ex = ex;
            this.events = events;
            this.requestId = requestId;
            this.deadlineNanos = deadlineNanos;
        }

        /**
         * The next event. The client and the deadline are looked at every {@link #POLL_MILLIS} whether or not
         * events arrive: a request that streams tokens into its queue without pause is the one that most needs it.
         */
        RequestEvents.Event next() {
            try {
                while (true) {
                    long now = System.nanoTime();
                    if (now - lastCheck >= POLL_NANOS) {
                        lastCheck = now;
                        check(now);
                    }
                    RequestEvents.Event e = events.take(POLL_MILLIS);
                    if (e != null) {
                        return e;
                    }
                }
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                engine.abort(requestId);
                throw new ApiException(503, "server is shutting down", null).withRetryAfter(5);
            }
        }

        private void check(long now) {
            if (ClientConnection.gone(ex)) {
                engine.abort(requestId);
                metrics.requestAbandoned();
                throw new ClientGone();
            }
            if (deadlineNanos != Long.MAX_VALUE && now - deadlineNanos > 0) {
                engine.abort(requestId);
                metrics.requestTimedOut();
                throw new ApiException(
                        504,
                        "the request ran past its deadline (request_timeout or --request-timeout) and was aborted",
                        "request_timeout");
            }
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
