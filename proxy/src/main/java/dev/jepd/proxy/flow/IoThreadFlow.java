package dev.jepd.proxy.flow;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.ClientConnection;
import dev.jepd.api.Errors;
import dev.jepd.api.Json;
import dev.jepd.api.Sse;
import dev.jepd.proxy.upstream.AsyncUpstream;
import dev.jepd.proxy.upstream.ClientWatch;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Lease;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Reply;
import dev.jepd.proxy.upstream.SseTail;
import dev.jepd.proxy.upstream.UpstreamFailure;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import io.undertow.util.SameThreadExecutor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xnio.IoUtils;
import org.xnio.XnioExecutor;
import org.xnio.XnioIoThread;
import org.xnio.channels.StreamSinkChannel;

/**
 * {@link Disaggregation}'s E+PD flow run on the Undertow IO thread that received the request, with no thread
 * hand-off from the client's bytes to the answer's: the body is received without blocking, the encoders are
 * called and the decode node's answer is relayed through {@link AsyncUpstream} on the same thread, each hop one more
 * event of the loop that serves the client. Parsing, the uuids, dedup, routing, encoder failover and the decode
 * node's failover before the first byte are the blocking flow's own code ({@link Disaggregation#parse}, {@link
 * EncoderFanout#runAsync}, {@link Disaggregation#retryDecode}); after the first byte a failing stream ends with an
 * error event and {@code [DONE]} ({@link SseTail}), as there.
 *
 * <p>Requests that need to block go to the blocking flow on a worker: a prefill stage (E+P+D), remote images to
 * fetch, a body without a length or over {@code --max-body-bytes} (its 413).
 */
public final class IoThreadFlow {
    private static final Logger LOG = LoggerFactory.getLogger(IoThreadFlow.class);

    private final Disaggregation flow;
    private final EncoderFanout encoders;
    private final Cluster decode;
    private final Cluster prefill;
    private final AsyncUpstream upstream;
    private final long maxBodyBytes;
    /** Requests in flight (this one included) from which the IO thread serves them ({@code -Djepd.proxy.ioFrom}). */
    private static final int FROM_IN_FLIGHT = Integer.getInteger("jepd.proxy.ioFrom", 2);

    private final java.util.concurrent.atomic.AtomicInteger inFlight = new java.util.concurrent.atomic.AtomicInteger();

    public IoThreadFlow(
            Disaggregation flow,
            EncoderFanout encoders,
            Cluster prefill,
            Cluster decode,
            AsyncUpstream upstream,
            long maxBodyBytes) {
        this.flow = flow;
        this.encoders = encoders;
        this.prefill = prefill;
        this.decode = decode;
        this.upstream = upstream;
        this.maxBodyBytes = maxBodyBytes;
    }

    /**
     * Whether a request may start here (else it takes the blocking route whole). Every chat and completion request
     * is counted while it runs, and one that is alone in the proxy takes the blocking route too: measured in
     * docs/PERF.md, a lone request's three waits cost less as a worker's blocking reads than as wake-ups of the
     * event loop (p50 0.15 against 0.21 ms for two hops at concurrency 1), while from two requests at once on the
     * loop serves more and sooner (2x the requests/s at 4 and 8).
     */
    public boolean takes(HttpServerExchange ex) {
        int running = inFlight.incrementAndGet();
        ex.addExchangeCompleteListener((done, next) -> {
            inFlight.decrementAndGet();
            next.proceed();
        });
        long length = ex.getRequestContentLength();
        return running >= FROM_IN_FLIGHT && prefill.isEmpty() && length >= 0 && length <= maxBodyBytes;
    }

    /**
     * Serves {@code path} ({@link Disaggregation#CHAT} or {@link Disaggregation#COMPLETIONS}); {@code blocking}
     * takes a request this flow hands over after reading its body (on a worker thread).
     */
    public void serve(HttpServerExchange ex, String path, BiConsumer<HttpServerExchange, byte[]> blocking) {
        ex.getRequestReceiver()
                .receiveFullBytes(
                        (e, raw) -> e.dispatch(SameThreadExecutor.INSTANCE, () -> start(e, raw, path, blocking)),
                        (e, failure) -> Errors.send(
                                e,
                                new ApiException(
                                        400, "could not read the request body: " + failure.getMessage(), null)));
    }

    private void start(
            HttpServerExchange ex, byte[] raw, String path, BiConsumer<HttpServerExchange, byte[]> blocking) {
        try {
            Disaggregation.Parsed parsed = flow.parse(raw, path);
            if (flow.needsBlockingFlow(parsed)) {
                blocking.accept(ex, raw);
                return;
            }
            new Request(ex, raw, path, parsed).start();
        } catch (RuntimeException e) {
            Errors.sendFailure(ex, e);
        }
    }

    /** One client request on its IO thread: its state between the events that move it on. */
    private final class Request {
        private final HttpServerExchange ex;
        private final XnioIoThread io;
        private final byte[] raw;
        private final String path;
        private final Disaggregation.Parsed parsed;
        private final RequestContext ctx;
        private final AsyncUpstream.Cut cut = new AsyncUpstream.Cut();
        private final Set<Node> tried = new HashSet<>();
        private boolean changed;
        private boolean stream;
        private byte[] json;
        private ApiException last;
        private XnioExecutor.Key probe;
        private boolean over;
        // the relay's state
        private StreamSinkChannel sink;
        private ByteBuffer pending;
        private byte[] ending;
        private final SseTail tail = new SseTail();

        Request(HttpServerExchange ex, byte[] raw, String path, Disaggregation.Parsed parsed) {
            this.ex = ex;
            this.io = ex.getIoThread();
            this.raw = raw;
            this.path = path;
            this.parsed = parsed;
            this.ctx = RequestContext.of(ex, ClientWatch.NONE);
            this.changed = parsed.changed();
        }

        void start() {
            ex.addExchangeCompleteListener((done, next) -> {
                over = true;
                if (probe != null) {
                    probe.remove();
                }
                next.proceed();
            });
            watchClient();
            stream = parsed.body().path("stream").asBoolean(false);
            encoders.runAsync(parsed.body(), parsed.items(), ctx, io, upstream, cut, this::encoded);
        }

        /**
         * Looks at the client every {@link ClientWatch#PROBE_MILLIS} while the request runs: once it is gone, the
         * upstream call of the moment is cut (the node sees its client leave and aborts) and nothing more starts.
         */
        private void watchClient() {
            probe = io.executeAfter(
                    () -> {
                        probe = null;
                        if (over) {
                            return;
                        }
                        if (ClientConnection.gone(ex)) {
                            clientGone();
                        } else {
                            watchClient();
                        }
                    },
                    ClientWatch.PROBE_MILLIS,
                    TimeUnit.MILLISECONDS);
        }

        private void encoded(Optional<JsonNode> ec, RuntimeException failure) {
            if (cut.cancelled()) {
                return;
            }
            if (failure != null) {
                fail(failure);
                return;
            }
            if (ec.isPresent()) {
                parsed.body().set(EncoderFanout.EC_TRANSFER_PARAMS, ec.get());
                changed = true;
            }
            json = changed ? Json.bytes(parsed.body()) : raw;
            decode();
        }

        private void decode() {
            if (cut.cancelled()) {
                return;
            }
            Lease lease = decode.acquire(1, tried, parsed.keys(), true);
            if (lease == null) {
                fail(last != null ? last : new ApiException(503, "no decode node is configured", null));
                return;
            }
            Node node = lease.node();
            tried.add(node);
            if (!stream) {
                upstream.exchange(io, node, path, json, ctx.headers(), cut, new AsyncUpstream.Callback<>() {
                    @Override
                    public void completed(Reply r) {
                        lease.close();
                        if (r.statusCode() / 100 != 2) {
                            beforeFirstByte(UpstreamFailure.status(node, r.statusCode(), r.body(), r.closing()), lease);
                            return;
                        }
                        parsed.keys().forEach(k -> decode.remember(k, node));
                        ex.setStatusCode(r.statusCode());
                        ex.getResponseHeaders()
                                .put(
                                        Headers.CONTENT_TYPE,
                                        r.contentType() != null ? r.contentType() : "application/json");
                        ex.getResponseSender().send(ByteBuffer.wrap(r.body()));
                    }

                    @Override
                    public void failed(ApiException e) {
                        lease.close();
                        beforeFirstByte(e, lease);
                    }
                });
                return;
            }
            upstream.stream(
                    io,
                    node,
                    path,
                    json,
                    ctx.headers(),
                    cut,
                    new AsyncUpstream.Callback<>() {
                        @Override
                        public void completed(AsyncUpstream.Opened s) {
                            parsed.keys().forEach(k -> decode.remember(k, node));
                            relay(s, lease);
                        }

                        @Override
                        public void failed(ApiException e) {
                            lease.close();
                            beforeFirstByte(e, lease);
                        }
                    },
                    r -> {
                        lease.close();
                        beforeFirstByte(UpstreamFailure.status(node, r.statusCode(), r.body(), r.closing()), lease);
                    });
        }

        private void beforeFirstByte(ApiException e, Lease lease) {
            if (cut.cancelled()) {
                return;
            }
            if (!Disaggregation.retryDecode(e, lease, ctx)) {
                fail(e);
                return;
            }
            last = e;
            decode();
        }

        private void fail(RuntimeException e) {
            if (over || cut.cancelled()) {
                return;
            }
            Errors.sendFailure(ex, e);
        }

        // ---- the relay of a stream: the node's bytes written as they come, flushed whenever the node pauses

        private void relay(AsyncUpstream.Opened s, Lease lease) {
            ex.setStatusCode(s.status());
            ex.getResponseHeaders()
                    .put(Headers.CONTENT_TYPE, s.contentType() != null ? s.contentType() : Sse.CONTENT_TYPE);
            if (s.complete()) {
                // The node's whole stream arrived before any byte went out: one write with its length, as the
                // blocking relay's Undertow sends a body that is whole in its buffer at the end of the exchange.
                lease.close();
                ex.getResponseSender().send(ByteBuffer.wrap(s.first()));
                return;
            }
            sink = ex.getResponseChannel();
            sink.getWriteSetter().set(ch -> drainPending(s));
            byte[] first = s.first();
            if (first.length > 0) {
                out(ByteBuffer.wrap(first)); // what the client cannot take yet waits in pending, the reads paused
            }
            upstream.relay(s, new AsyncUpstream.Relay() {
                @Override
                public boolean bytes(ByteBuffer data) {
                    return out(data);
                }

                @Override
                public void drained() {
                    flush();
                }

                @Override
                public void ended() {
                    lease.close();
                    end(new byte[0]);
                }

                @Override
                public void failed(ApiException e) {
                    lease.close();
                    if (cut.cancelled()) {
                        IoUtils.safeClose(ex.getConnection());
                        return;
                    }
                    LOG.warn("[{}] the decode node's stream broke: {}", ctx.requestId(), e.getMessage());
                    end(tail.ending(e));
                }
            });
            if (pending != null) {
                sink.resumeWrites(); // relay() read nothing yet if the client could not take the first bytes
            }
        }

        /** Writes to the client; false when some had to wait (the reads pause until it has gone out). */
        private boolean out(ByteBuffer data) {
            if (data.hasRemaining()) {
                tail.append(data.array(), data.arrayOffset() + data.position(), data.remaining());
            }
            if (pending != null) {
                pending = concat(pending, data);
                return false;
            }
            try {
                while (data.hasRemaining() && sink.write(data) > 0) {
                    // written
                }
            } catch (IOException e) {
                clientGone();
                return false;
            }
            if (data.hasRemaining()) {
                pending = concat(null, data);
                sink.resumeWrites();
                return false;
            }
            return true;
        }

        private void drainPending(AsyncUpstream.Opened s) {
            try {
                if (pending != null) {
                    while (pending.hasRemaining() && sink.write(pending) > 0) {
                        // written
                    }
                    if (pending.hasRemaining()) {
                        return; // called again when the client can take more
                    }
                    pending = null;
                }
                if (ending != null) {
                    byte[] e = ending;
                    ending = null;
                    finish(e);
                    return;
                }
                if (!sink.flush()) {
                    return;
                }
                sink.suspendWrites();
                upstream.resume(s);
            } catch (IOException e) {
                clientGone();
            }
        }

        private void flush() {
            try {
                if (pending == null && !sink.flush()) {
                    sink.resumeWrites(); // the rest goes out when the client can take it
                }
            } catch (IOException e) {
                clientGone();
            }
        }

        /** The node's answer is over: {@code last} (an error event, or nothing) written after what waits. */
        private void end(byte[] last) {
            if (pending != null) {
                ending = last;
                return;
            }
            finish(last);
        }

        private void finish(byte[] last) {
            try {
                if (last.length > 0 && !out(ByteBuffer.wrap(last))) {
                    ending = new byte[0];
                    return;
                }
                sink.shutdownWrites();
                if (!sink.flush()) {
                    sink.getWriteSetter().set(ch -> {
                        try {
                            if (ch.flush()) {
                                ch.suspendWrites();
                                ex.endExchange();
                            }
                        } catch (IOException e) {
                            clientGone();
                        }
                    });
                    sink.resumeWrites();
                    return;
                }
                ex.endExchange();
            } catch (IOException e) {
                clientGone();
            }
        }

        private void clientGone() {
            LOG.info("[{}] client went away; upstream cancelled", ctx.requestId());
            cut.cancel();
            IoUtils.safeClose(ex.getConnection());
        }

        private static ByteBuffer concat(ByteBuffer head, ByteBuffer data) {
            int h = head == null ? 0 : head.remaining();
            ByteBuffer b = ByteBuffer.allocate(h + data.remaining());
            if (head != null) {
                b.put(head);
            }
            b.put(data);
            return b.flip();
        }
    }
}
