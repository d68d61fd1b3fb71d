package dev.jepd.proxy.upstream;

import dev.jepd.api.ApiException;
import io.undertow.client.ClientCallback;
import io.undertow.client.ClientConnection;
import io.undertow.client.ClientExchange;
import io.undertow.client.ClientRequest;
import io.undertow.client.UndertowClient;
import io.undertow.connector.ByteBufferPool;
import io.undertow.server.DefaultByteBufferPool;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import io.undertow.util.Methods;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.xnio.ChannelListener;
import org.xnio.ChannelListeners;
import org.xnio.IoUtils;
import org.xnio.OptionMap;
import org.xnio.Options;
import org.xnio.XnioExecutor;
import org.xnio.XnioIoThread;
import org.xnio.channels.StreamSinkChannel;
import org.xnio.channels.StreamSourceChannel;

/**
 * The proxy's non-blocking HTTP/1.1 client, for the flow that runs on Undertow's IO threads ({@code
 * flow.IoThreadFlow}): Undertow's own client ({@code io.undertow.client}), each connection opened on, kept by and
 * only ever touched from the IO thread of the client request that uses it (they close with the server's IO
 * threads). A node's answer is then one more
 * read-ready event in the loop that already serves the client: no thread is woken for it (docs/PERF.md measures
 * what the blocking client's hand-offs cost).
 *
 * <p>As {@link UpstreamClient}: keep-alive connections pooled per node (here per IO thread and node), a request
 * written into a kept-alive connection that the node had closed meanwhile (no answer read) sent once more on a new
 * connection, {@link #timeout()} bounding each wait for an answer and each silence of a stream, every transport
 * failure given as the {@link ApiException} of {@link UpstreamFailure}.
 */
public final class AsyncUpstream {
    /** Largest whole answer read into memory, as {@link UpstreamClient}'s. */
    private static final int MAX_ANSWER_BYTES = 256 << 20;
    /** How much of a failed answer is kept for the error message. */
    private static final int ERROR_BODY_BYTES = 1 << 20;
    /** Idle connections kept per IO thread and node; more are closed when they come back. */
    private static final int MAX_IDLE = 256;

    private final Duration connectTimeout;
    private final Duration timeout;
    private final ByteBufferPool buffers = new DefaultByteBufferPool(true, 16 * 1024, 256, 4);
    private final Map<XnioIoThread, Map<String, ArrayDeque<ClientConnection>>> idle = new ConcurrentHashMap<>();

    public AsyncUpstream(Duration connectTimeout, Duration timeout) {
        this.connectTimeout = connectTimeout;
        this.timeout = timeout;
    }

    /** {@code --upstream-timeout}. */
    public Duration timeout() {
        return timeout;
    }

    /** The outcome of one call, delivered once on the IO thread that started it. */
    public interface Callback<T> {
        void completed(T value);

        /** A transport failure or time-out, already as the client's error. */
        void failed(ApiException e);
    }

    /**
     * The upstream connection a client request uses now: cancelling it (the client went away) closes that
     * connection, so the node sees its client disconnect and aborts, and no later call of the request starts.
     * Touched only on the request's IO thread.
     */
    public static final class Cut {
        private final java.util.List<Call> current = new java.util.ArrayList<>(2);
        private boolean cancelled;

        public boolean cancelled() {
            return cancelled;
        }

        public void cancel() {
            cancelled = true;
            for (Call c : java.util.List.copyOf(current)) {
                c.abortNow(c.cancelled());
            }
            current.clear();
        }

        void attach(Call c) {
            current.add(c);
        }

        void detach(Call c) {
            current.remove(c);
        }
    }

    /**
     * Closes the socket now. {@code ClientConnection.close()} shuts the connection down gracefully: in the middle of
     * an exchange it sends nothing the node would notice and then waits up to 10 s for the node's own end, so a node
     * working on a request from a client that left would go on. {@code performUpgrade()} hands over the raw
     * connection (its conduits reset), which is then closed at once.
     */
    static void abort(ClientConnection c) {
        try {
            IoUtils.safeClose(c.performUpgrade());
        } catch (IOException | RuntimeException e) {
            // already closed
        }
        IoUtils.safeClose(c);
    }

    /** A 2xx stream whose head and first bytes arrived; the rest is read with {@link #relay}. */
    public static final class Opened {
        private final int status;
        private final String contentType;
        private final byte[] first;
        private final Call call;

        Opened(int status, String contentType, byte[] first, Call call) {
            this.status = status;
            this.contentType = contentType;
            this.first = first;
            this.call = call;
        }

        public int status() {
            return status;
        }

        public String contentType() {
            return contentType;
        }

        /** What had arrived of the body when the stream was handed over (may be empty if the body is). */
        public byte[] first() {
            return first;
        }

        /** Whether {@link #first} is the whole body: the node had ended its answer when it was handed over. */
        public boolean complete() {
            return call.finished;
        }
    }

    /** What a relay reports as the node's bytes arrive, on the request's IO thread. */
    public interface Relay {
        /**
         * Bytes of the body, to be consumed before returning. Returning false pauses the reads (the client cannot
         * take more now) until {@link AsyncUpstream#resume}; the node's silence is not timed meanwhile.
         */
        boolean bytes(ByteBuffer data);

        /** Nothing more has arrived for now: what was passed on should go out (flushed) to the client. */
        void drained();

        /** The node ended its answer. */
        void ended();

        /** The node failed, or fell silent for {@link AsyncUpstream#timeout()} before the end. */
        void failed(ApiException e);
    }

    /** One POST (or GET when {@code json} is null), its answer read whole (bounded); any status is returned. */
    public void exchange(
            XnioIoThread io,
            Node node,
            String path,
            byte[] json,
            Map<String, String> headers,
            Cut cut,
            Callback<Reply> done) {
        new Call(io, node, path, json, headers, cut, done, null).start(true);
    }

    /**
     * A POST whose 2xx answer is streamed: completes once the status, the headers and the first bytes of the body
     * arrived, so that a failure before the first byte can still be retried elsewhere. A non-2xx answer is
     * read whole and given as a {@link Reply} through {@code refused}; its caller judges it.
     */
    public void stream(
            XnioIoThread io,
            Node node,
            String path,
            byte[] json,
            Map<String, String> headers,
            Cut cut,
            Callback<Opened> opened,
            java.util.function.Consumer<Reply> refused) {
        new Call(
                        io,
                        node,
                        path,
                        json,
                        headers,
                        cut,
                        new Callback<Reply>() {
                            @Override
                            public void completed(Reply r) {
                                refused.accept(r);
                            }

                            @Override
                            public void failed(ApiException e) {
                                opened.failed(e);
                            }
                        },
                        opened)
                .start(true);
    }

    /**
     * Reads the rest of an opened stream: {@code relay.bytes} for every read, then {@code ended} or {@code failed}
     * exactly once. {@code relay.bytes} returning false pauses the reads until {@link #resume}.
     */
    public void relay(Opened s, Relay relay) {
        s.call.relay(relay);
    }

    /** Resumes a relay paused by {@link Relay#bytes} returning false. */
    public void resume(Opened s) {
        s.call.resumeRelay();
    }

    /** A node's address as a request needs it, parsed once. */
    private record Target(URI uri, String host, String prefix) {}

    private final Map<String, Target> targets = new ConcurrentHashMap<>();

    private Target target(Node node) {
        return targets.computeIfAbsent(node.url(), url -> {
            URI uri = URI.create(url);
            String host = uri.getHost() + (uri.getPort() > 0 ? ":" + uri.getPort() : "");
            return new Target(uri, host, uri.getRawPath() == null ? "" : uri.getRawPath());
        });
    }

    private ArrayDeque<ClientConnection> idleOf(XnioIoThread io, Node node) {
        return idle.computeIfAbsent(io, k -> new HashMap<>()).computeIfAbsent(node.url(), k -> new ArrayDeque<>());
    }

    /** One upstream request on one IO thread, from the connection to the end of its answer. */
    private final class Call implements ChannelListener<StreamSourceChannel> {
        private final XnioIoThread io;
        private final Node node;
        private final String path;
        private final byte[] json;
        private final Map<String, String> headers;
        private final Cut cut;
        private final Callback<Reply> whole;
        private final Callback<Opened> opened;
        private ClientConnection connection;
        private StreamSourceChannel body;
        private XnioExecutor.Key timer;
        private long limitNanos;
        private long lastProgress;
        private boolean timedOut;
        private ApiException failure; // why an opened stream was aborted before its relay began
        private boolean aborted; // ended by a failure, a time-out or the client: later events are ignored
        private boolean answered; // a response head came back: nothing is sent twice after this
        private boolean settled; // whole / opened delivered
        private boolean finished; // the body was read to its end
        private int status;
        private String contentType;
        private boolean closing;
        private ByteArrayOutputStream collected;
        private ByteBuffer readBuffer;
        private Relay relay;
        private boolean relayPaused;

        Call(
                XnioIoThread io,
                Node node,
                String path,
                byte[] json,
                Map<String, String> headers,
                Cut cut,
                Callback<Reply> whole,
                Callback<Opened> opened) {
            this.io = io;
            this.node = node;
            this.path = path;
            this.json = json;
            this.headers = headers;
            this.cut = cut;
            this.whole = whole;
            this.opened = opened;
        }

        void start(boolean mayReuse) {
            if (mayReuse) {
                cut.attach(this); // until the answer is read, failed or abandoned
            }
            if (cut.cancelled()) {
                fail(cancelled());
                return;
            }
            ClientConnection c = null;
            if (mayReuse) {
                ArrayDeque<ClientConnection> q = idleOf(io, node);
                while ((c = q.pollLast()) != null && !c.isOpen()) {
                    // closed by the node while idle
                }
            }
            if (c != null) {
                send(c, true);
                return;
            }
            arm(connectTimeout);
            URI uri = target(node).uri;
            UndertowClient.getInstance()
                    .connect(
                            new ClientCallback<>() {
                                @Override
                                public void completed(ClientConnection fresh) {
                                    if (settled || timedOut || cut.cancelled()) {
                                        IoUtils.safeClose(fresh);
                                        if (!settled) {
                                            fail(timedOut ? connectTimedOut() : cancelled());
                                        }
                                        return;
                                    }
                                    send(fresh, false);
                                }

                                @Override
                                public void failed(IOException e) {
                                    fail(timedOut ? connectTimedOut() : UpstreamFailure.transport(node, e, timeout));
                                }
                            },
                            uri,
                            io,
                            buffers,
                            OptionMap.create(Options.TCP_NODELAY, true));
        }

        private ApiException connectTimedOut() {
            return new UpstreamFailure.Unreachable(
                    502, node + " is unreachable: no connection within the connect time-out");
        }

        ApiException cancelled() {
            return new ApiException(502, node + ": request cancelled (the client went away)", null);
        }

        private void send(ClientConnection c, boolean reused) {
            connection = c;
            arm(timeout);
            Target t = target(node);
            ClientRequest request = new ClientRequest()
                    .setMethod(json == null ? Methods.GET : Methods.POST)
                    .setPath(t.prefix + path);
            request.getRequestHeaders().put(Headers.HOST, t.host);
            if (json != null) {
                request.getRequestHeaders().put(Headers.CONTENT_TYPE, "application/json");
                request.getRequestHeaders().put(Headers.CONTENT_LENGTH, json.length);
            }
            headers.forEach((k, v) -> request.getRequestHeaders().put(HttpString.tryFromString(k), v));
            c.sendRequest(request, new ClientCallback<>() {
                @Override
                public void completed(ClientExchange exchange) {
                    exchange.setResponseListener(new ClientCallback<>() {
                        @Override
                        public void completed(ClientExchange answer) {
                            answered = true;
                            status = answer.getResponse().getResponseCode();
                            contentType =
                                    answer.getResponse().getResponseHeaders().getFirst(Headers.CONTENT_TYPE);
                            String conn =
                                    answer.getResponse().getResponseHeaders().getFirst(Headers.CONNECTION);
                            closing = conn != null && conn.equalsIgnoreCase("close");
                            body = answer.getResponseChannel();
                            collected = new ByteArrayOutputStream();
                            body.getReadSetter().set(Call.this);
                            handleEvent(body);
                        }

                        @Override
                        public void failed(IOException e) {
                            transportFailure(e, reused);
                        }
                    });
                    if (json != null) {
                        write(exchange.getRequestChannel(), ByteBuffer.wrap(json), reused);
                    }
                }

                @Override
                public void failed(IOException e) {
                    transportFailure(e, reused);
                }
            });
        }

        private void write(StreamSinkChannel sink, ByteBuffer data, boolean reused) {
            try {
                while (data.hasRemaining() && sink.write(data) > 0) {
                    // written
                }
                if (data.hasRemaining()) {
                    sink.getWriteSetter().set(ch -> {
                        ch.suspendWrites();
                        write(ch, data, reused);
                    });
                    sink.resumeWrites();
                    return;
                }
                sink.shutdownWrites();
                if (!sink.flush()) {
                    sink.getWriteSetter()
                            .set(ChannelListeners.flushingChannelListener(
                                    null, (ch, e) -> transportFailure(e, reused)));
                    sink.resumeWrites();
                }
            } catch (IOException e) {
                transportFailure(e, reused);
            }
        }

        /** The call ends now with {@code e} (a time-out, or the client gone): the socket is closed at once. */
        void abortNow(ApiException e) {
            if (aborted) {
                return;
            }
            aborted = true;
            cut.detach(this);
            disarm();
            if (connection != null) {
                abort(connection); // no callback of Undertow's follows a hard close: the failure is given here
            }
            if (relay != null) {
                endRelay(e);
            } else {
                fail(e);
            }
        }

        private void transportFailure(IOException e, boolean reused) {
            if (aborted || (settled && relay == null)) {
                return;
            }
            if (!answered && reused && !timedOut && !cut.cancelled()) {
                // A kept-alive connection the node had closed: nothing was answered, so nothing ran twice.
                abort(connection);
                disarm();
                start(false);
                return;
            }
            abortNow(
                    timedOut
                            ? UpstreamFailure.timeout(node, timeout)
                            : cut.cancelled() ? cancelled() : UpstreamFailure.transport(node, e, timeout));
        }

        /** Reads of the answer body: whole, the first bytes of a stream, or the relay. */
        @Override
        public void handleEvent(StreamSourceChannel ch) {
            try {
                while (true) {
                    if (relay != null && relayPaused) {
                        disarm(); // the client is slow, not the node
                        ch.suspendReads();
                        return;
                    }
                    ByteBuffer buf = buffer();
                    buf.clear();
                    int n = ch.read(buf);
                    if (n == 0) {
                        if (!settled && streams() && collected.size() > 0) {
                            openStream();
                            return;
                        }
                        ch.resumeReads();
                        if (relay != null) {
                            relay.drained();
                        }
                        return;
                    }
                    lastProgress = System.nanoTime(); // any progress restarts the clock
                    if (n < 0) {
                        finished = true;
                        disarm();
                        ch.suspendReads();
                        done();
                        return;
                    }
                    buf.flip();
                    if (relay != null) {
                        if (!relay.bytes(buf)) {
                            relayPaused = true;
                        }
                        continue;
                    }
                    int limit = status / 100 == 2 ? MAX_ANSWER_BYTES : ERROR_BODY_BYTES;
                    if (status / 100 == 2 && collected.size() + buf.remaining() > limit) {
                        throw new IOException("answer larger than " + limit + " bytes");
                    }
                    // an error body: its start only, read to its end
                    int keep = Math.min(buf.remaining(), limit - collected.size());
                    collected.write(buf.array(), buf.arrayOffset() + buf.position(), keep);
                }
            } catch (IOException e) {
                transportFailure(e, false);
            }
        }

        private ByteBuffer buffer() {
            if (readBuffer == null) {
                readBuffer = ByteBuffer.allocate(16 * 1024);
            }
            return readBuffer;
        }

        /** A stream's call whose answer is 2xx: its body is handed over, not read whole. */
        private boolean streams() {
            return opened != null && status / 100 == 2;
        }

        private void openStream() {
            settled = true;
            body.suspendReads();
            disarm();
            opened.completed(new Opened(status, contentType, collected.toByteArray(), this));
        }

        /** The body's end: give the connection back (or close it), then deliver. */
        private void done() {
            cut.detach(this);
            if (closing || !connection.isOpen()) {
                IoUtils.safeClose(connection); // the answer is complete: a graceful close
            } else {
                ArrayDeque<ClientConnection> q = idleOf(io, node);
                if (q.size() < MAX_IDLE) {
                    q.addLast(connection);
                } else {
                    abort(connection);
                }
            }
            if (relay != null) {
                Relay r = relay;
                relay = null;
                r.ended();
                return;
            }
            if (streams()) {
                openStream(); // the whole body arrived at once (or it was empty)
                return;
            }
            settled = true;
            whole.completed(new Reply(status, contentType, collected.toByteArray(), closing));
        }

        void relay(Relay r) {
            if (finished) {
                r.ended();
                return;
            }
            if (aborted) {
                cut.detach(this);
                r.failed(failure != null ? failure : cancelled());
                return;
            }
            relay = r;
            arm(timeout);
            body.getReadSetter().set(this);
            handleEvent(body);
        }

        void resumeRelay() {
            relayPaused = false;
            if (relay != null && body != null) {
                arm(timeout);
                body.resumeReads();
            }
        }

        private void endRelay(ApiException e) {
            Relay r = relay;
            relay = null;
            disarm();
            cut.detach(this);
            r.failed(e);
        }

        private void fail(ApiException e) {
            disarm();
            if (settled) {
                failure = e; // an opened stream: its relay reports it
                return;
            }
            cut.detach(this);
            settled = true;
            whole.failed(e);
        }

        /**
         * Times the wait from now: {@code d} without progress (a read) ends the call. One timer per call, moved on
         * only when it fires, so a read costs a clock reading rather than a timer.
         */
        private void arm(Duration d) {
            limitNanos = d.toNanos();
            lastProgress = System.nanoTime();
            if (timer == null) {
                schedule(limitNanos);
            }
        }

        private void schedule(long nanos) {
            timer = io.executeAfter(
                    this::expire, Math.max(1, TimeUnit.NANOSECONDS.toMillis(nanos)), TimeUnit.MILLISECONDS);
        }

        private void expire() {
            timer = null;
            long idleFor = System.nanoTime() - lastProgress;
            if (idleFor < limitNanos) {
                schedule(limitNanos - idleFor);
                return;
            }
            timedOut = true;
            abortNow(connection != null ? UpstreamFailure.timeout(node, timeout) : connectTimedOut());
        }

        private void disarm() {
            if (timer != null) {
                timer.remove();
                timer = null;
            }
        }
    }
}
