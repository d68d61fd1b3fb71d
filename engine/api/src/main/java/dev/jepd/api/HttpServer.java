package dev.jepd.api;

import io.undertow.Handlers;
import io.undertow.Undertow;
import io.undertow.UndertowOptions;
import io.undertow.connector.ByteBufferPool;
import io.undertow.server.DefaultByteBufferPool;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.RoutingHandler;
import io.undertow.server.handlers.BlockingHandler;
import io.undertow.server.handlers.HttpContinueReadHandler;
import io.undertow.server.protocol.http.HttpOpenListener;
import io.undertow.server.protocol.http.HttpServerConnection;
import io.undertow.util.AttachmentKey;
import io.undertow.util.HttpString;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xnio.ChannelListener;
import org.xnio.ChannelListeners;
import org.xnio.IoUtils;
import org.xnio.OptionMap;
import org.xnio.Options;
import org.xnio.StreamConnection;
import org.xnio.Xnio;
import org.xnio.XnioExecutor;
import org.xnio.XnioWorker;
import org.xnio.channels.AcceptingChannel;

/**
 * One Undertow server with JEPD's handler chain, composed here and only here:
 * drain gate → request id → API key → body deadline → error mapping → routes. Routes registered with
 * {@link Builder#post}/{@link Builder#get} run on worker threads and may block; every exception becomes an
 * OpenAI error response (no stack trace ever reaches a client).
 *
 * <p>The limits a hostile or careless client meets, all answered with OpenAI error JSON or a closed connection:
 * request head (line + headers) bigger than {@link Builder#maxHeaderBytes} or with more than
 * {@link Builder#maxHeaders} headers, or not HTTP at all → 400 JSON (Undertow's own empty 400 is rewritten on
 * the wire by {@link BadRequestAsJson}); a head not complete within the header timeout, a body not complete
 * within the body timeout, or a keep-alive connection idle past the idle timeout → closed; at most
 * {@link Builder#maxConnections} connections are accepted at once (further ones wait in the backlog); a bounded
 * pool of worker threads. The server is assembled on XNIO directly (as {@code Undertow.start()} does) so that
 * the rewrite can sit under every connection.
 */
public final class HttpServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpServer.class);
    public static final HttpString REQUEST_ID = new HttpString("X-Request-Id");
    /** What a client may send as {@code X-Request-Id}; anything else is replaced by a fresh id, never echoed. */
    public static final Pattern VALID_REQUEST_ID = Pattern.compile("[A-Za-z0-9._:-]{1,200}");

    private static final AttachmentKey<String> ID = AttachmentKey.create(String.class);

    private final XnioWorker worker;
    private final AcceptingChannel<StreamConnection> channel;
    private final Drain drain;
    private final int port;
    private boolean stopped;

    private final IdleTrim idleTrim;

    private HttpServer(
            XnioWorker worker, AcceptingChannel<StreamConnection> channel, Drain drain, int port, IdleTrim idleTrim) {
        this.worker = worker;
        this.channel = channel;
        this.drain = drain;
        this.port = port;
        this.idleTrim = idleTrim;
    }

    public static Builder builder(String name) {
        return new Builder(name);
    }

    public int port() {
        return port;
    }

    /**
     * The request's id: the client's {@code X-Request-Id} when it is valid ({@link #VALID_REQUEST_ID}), else a
     * fresh one. The same id is echoed in the response header.
     */
    public static String requestId(HttpServerExchange ex) {
        String id = ex.getAttachment(ID);
        if (id == null) {
            id = validOrFresh(ex.getRequestHeaders().getFirst(REQUEST_ID));
            ex.putAttachment(ID, id);
        }
        return id;
    }

    /** {@code given} if it is a valid request id, else a fresh random one. */
    public static String validOrFresh(String given) {
        return given != null && VALID_REQUEST_ID.matcher(given).matches() ? given : freshId();
    }

    /**
     * 32 random hex digits, as vLLM's {@code random_uuid()} ({@code uuid4().hex}) gives. They only need to be
     * unique, not secret, so they come from {@link ThreadLocalRandom} rather than {@code UUID.randomUUID()}'s
     * {@code SecureRandom}, which serialises every request on one lock.
     */
    static String freshId() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        HexFormat hex = HexFormat.of();
        return hex.toHexDigits(r.nextLong()) + hex.toHexDigits(r.nextLong());
    }

    /** Native-memory trims done since start ({@link Builder#trimWhenIdle}); 0 when not enabled. */
    public long idleTrims() {
        return idleTrim == null ? 0 : idleTrim.trims();
    }

    /** {@code /v1/} requests completed since start. */
    public long apiRequestsCompleted() {
        return drain.apiCompleted();
    }

    /** Requests being served now (the drain waits for this to reach 0). */
    public int inFlight() {
        return drain.active();
    }

    /** Whether {@link #shutdown} has begun: new requests get 503 with {@code Retry-After}. */
    public boolean draining() {
        return drain.draining();
    }

    /**
     * Stops taking requests (new ones get 503 JSON with {@code Retry-After}, {@code /health} included, so that
     * proxies stop routing here), lets running ones finish for up to {@code millis}, then stops.
     */
    public synchronized void shutdown(long millis) {
        if (stopped) {
            return;
        }
        stopped = true;
        drain.start();
        boolean idle = drain.await(millis);
        if (!idle) {
            LOG.warn("shutting down with {} request(s) still running after {} ms", drain.active(), millis);
        }
        IoUtils.safeClose(channel);
        if (idleTrim != null) {
            idleTrim.close();
        }
        worker.shutdown();
        try {
            if (!worker.awaitTermination(1, TimeUnit.SECONDS)) {
                worker.shutdownNow();
            }
        } catch (InterruptedException e) {
            worker.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        shutdown(TimeUnit.SECONDS.toMillis(5));
    }

    /** Collects routes and settings; {@link #start()} composes the chain. */
    public static final class Builder {
        private final String name;
        private final RoutingHandler routes = Handlers.routing();
        private String host = "127.0.0.1";
        private int port;
        private String apiKey;
        private boolean echoRequestId = true;
        private int workerThreads = 256;
        private long maxEntityBytes = 128L << 20;
        // Under the 30 s a client may be made to wait at most, with the close itself included.
        private Duration headerTimeout = Duration.ofSeconds(20);
        private Duration bodyTimeout = Duration.ofSeconds(20);
        private Duration idleTimeout = Duration.ofSeconds(60);
        private int maxConnections = 1024;
        private int maxHeaderBytes = 64 << 10;
        private int maxHeaders = 100;
        private Duration trimQuiet;
        private IdleTrim.Trim trim = IdleTrim.GC;

        private Builder(String name) {
            this.name = name;
        }

        public Builder host(String host) {
            this.host = host;
            return this;
        }

        /** 0 picks a free port; {@link HttpServer#port()} tells which. */
        public Builder port(int port) {
            this.port = port;
            return this;
        }

        /** vLLM's {@code --api-key}: {@code Authorization: Bearer <key>} required on {@code /v1/*}. */
        public Builder apiKey(String apiKey) {
            this.apiKey = apiKey;
            return this;
        }

        public Builder echoRequestId(boolean echo) {
            this.echoRequestId = echo;
            return this;
        }

        /** Worker threads: a streaming response holds one for its lifetime. */
        public Builder workerThreads(int n) {
            this.workerThreads = n;
            return this;
        }

        public Builder maxEntityBytes(long n) {
            this.maxEntityBytes = n;
            return this;
        }

        /** From a connection's first request byte to the end of its headers (slow-header clients). */
        public Builder headerTimeout(Duration d) {
            this.headerTimeout = positive(d, "header timeout");
            return this;
        }

        /** From the start of a request to the last byte of its body (slow-body clients, short bodies). */
        public Builder bodyTimeout(Duration d) {
            this.bodyTimeout = positive(d, "body timeout");
            return this;
        }

        /** How long a keep-alive connection may sit without a request. */
        public Builder idleTimeout(Duration d) {
            this.idleTimeout = positive(d, "idle timeout");
            return this;
        }

        /** Connections accepted at once; more wait in the listen backlog. */
        public Builder maxConnections(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("max connections must be positive, got " + n);
            }
            this.maxConnections = n;
            return this;
        }

        /**
         * Gives memory back ({@link IdleTrim}: {@link #trim}, a full collection unless set) once no API request
         * has completed for {@code quiet} and none is in flight, after work; null (the default) never trims.
         */
        public Builder trimWhenIdle(Duration quiet) {
            this.trimQuiet = quiet;
            return this;
        }

        /** What {@link #trimWhenIdle} calls: a node adds {@code malloc_trim(0)}; tests count calls. */
        public Builder trim(IdleTrim.Trim trim) {
            this.trim = trim;
            return this;
        }

        /** The largest request head (request line and headers) in bytes. */
        public Builder maxHeaderBytes(int n) {
            this.maxHeaderBytes = n;
            return this;
        }

        /** The most headers one request may carry. */
        public Builder maxHeaders(int n) {
            this.maxHeaders = n;
            return this;
        }

        private static Duration positive(Duration d, String what) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive, got " + d);
            }
            return d;
        }

        // The error mapping sits inside the blocking dispatch: the route runs on a worker thread, and an
        // exception there never travels back through handlers outside the dispatch.
        public Builder get(String path, HttpHandler h) {
            routes.get(path, new BlockingHandler(new ErrorMapping(h)));
            return this;
        }

        public Builder post(String path, HttpHandler h) {
            routes.post(path, new BlockingHandler(new ErrorMapping(h)));
            return this;
        }

        public Builder delete(String path, HttpHandler h) {
            routes.delete(path, new BlockingHandler(new ErrorMapping(h)));
            return this;
        }

        /**
         * A route that starts on the IO thread and must never block there: it ends the exchange itself (now or from
         * a later IO event), or hands it to a worker with {@code ex.dispatch(HttpServer.blocking(route))}.
         * Exceptions it throws before it returns become OpenAI errors, as for the other routes.
         */
        public Builder postOnIoThread(String path, HttpHandler h) {
            routes.post(path, new ErrorMapping(h));
            return this;
        }

        public HttpServer start() {
            routes.setFallbackHandler(
                    ex -> Errors.send(ex, new ApiException(404, "Not Found: " + ex.getRequestPath(), null)));
            routes.setInvalidMethodHandler(
                    ex -> Errors.send(ex, new ApiException(405, "Method Not Allowed: " + ex.getRequestMethod(), null)));
            HttpHandler chain = new ErrorMapping(routes);
            byte[] bodyTimedOut = rawAnswer(
                    408,
                    new ApiException(
                            408, "the request body did not arrive within " + bodyTimeout.toSeconds() + " s", null));
            chain = new BodyDeadline(bodyTimeout.toMillis(), bodyTimedOut, chain);
            if (apiKey != null && !apiKey.isEmpty()) {
                chain = new ApiKeyCheck(apiKey, chain);
            }
            chain = new RequestIdCheck(echoRequestId, chain);
            // "Expect: 100-continue" (curl sends it for bodies over 1 MB, as an image data URL can be) is answered
            // with "100 Continue" when a route starts reading the body, as uvicorn does for vLLM; without it the
            // client waits a second before sending. A request refused before its body is read never gets it.
            chain = new HttpContinueReadHandler(chain);
            Drain drain = new Drain(chain);
            try {
                return listen(drain);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot listen on " + host + ":" + port, e);
            }
        }

        private HttpServer listen(Drain root) throws IOException {
            int ioThreads = Math.max(Runtime.getRuntime().availableProcessors(), 2);
            XnioWorker worker = Xnio.getInstance(Undertow.class.getClassLoader())
                    .createWorker(OptionMap.builder()
                            .set(Options.WORKER_IO_THREADS, ioThreads)
                            // Threads above the core ones end after 10 s idle: a burst's threads are given back.
                            .set(Options.WORKER_TASK_CORE_THREADS, Math.min(workerThreads, 2 * ioThreads))
                            .set(Options.WORKER_TASK_KEEPALIVE, 10_000)
                            .set(Options.WORKER_TASK_MAX_THREADS, workerThreads)
                            .set(Options.TCP_NODELAY, true)
                            .set(Options.CORK, true)
                            .set(Options.WORKER_NAME, name.replace(' ', '-'))
                            .getMap());
            OptionMap socket = OptionMap.builder()
                    .set(Options.WORKER_IO_THREADS, ioThreads)
                    .set(Options.TCP_NODELAY, true)
                    .set(Options.REUSE_ADDRESSES, true)
                    .set(Options.BALANCING_TOKENS, 1)
                    .set(Options.BALANCING_CONNECTIONS, 2)
                    .set(Options.BACKLOG, 1000)
                    .set(Options.CONNECTION_HIGH_WATER, maxConnections)
                    .set(Options.CONNECTION_LOW_WATER, maxConnections)
                    .getMap();
            // No socket READ_TIMEOUT: Undertow's read-timeout conduit would also close a connection whose
            // non-streamed answer takes longer than the timeout. Heads and bodies have their own deadlines.
            OptionMap undertow = OptionMap.builder()
                    .set(UndertowOptions.REQUEST_PARSE_TIMEOUT, (int) headerTimeout.toMillis())
                    .set(UndertowOptions.NO_REQUEST_TIMEOUT, (int) idleTimeout.toMillis())
                    .set(UndertowOptions.MAX_HEADER_SIZE, maxHeaderBytes)
                    .set(UndertowOptions.MAX_HEADERS, maxHeaders)
                    .set(UndertowOptions.MAX_ENTITY_SIZE, maxEntityBytes)
                    .set(UndertowOptions.ALWAYS_SET_KEEP_ALIVE, true)
                    .getMap();
            ByteBufferPool buffers = new DefaultByteBufferPool(true, 16 * 1024 - 20, -1, 4);
            HttpOpenListener open = new HttpOpenListener(buffers, undertow);
            open.setRootHandler(root);
            byte[] badRequest = Json.bytes(new ApiException(
                            400,
                            "malformed HTTP request: not HTTP/1.x, bad framing, or a head over " + maxHeaderBytes
                                    + " bytes or " + maxHeaders + " headers",
                            null)
                    .body());
            ChannelListener<StreamConnection> wrapped = connection -> {
                BadRequestAsJson.install(connection, badRequest);
                open.handleEvent(connection);
            };
            AcceptingChannel<StreamConnection> channel;
            try {
                channel = worker.createStreamConnectionServer(
                        new InetSocketAddress(InetAddress.getByName(host), port),
                        ChannelListeners.openListenerAdapter(wrapped),
                        socket);
            } catch (IOException | RuntimeException e) {
                worker.shutdownNow();
                throw e;
            }
            channel.resumeAccepts();
            int actual = ((InetSocketAddress) channel.getLocalAddress()).getPort();
            LOG.info("{} listening on http://{}:{}", name, host, actual);
            IdleTrim idle = trimQuiet == null
                    ? null
                    : IdleTrim.start(root::active, root::apiCompleted, trim, trimQuiet, name.replace(' ', '-'));
            return new HttpServer(worker, channel, root, actual, idle);
        }
    }

    /**
     * {@code route} as the blocking routes run it (on a worker, errors mapped), for an IO-thread route that hands an
     * exchange over: {@code ex.dispatch(HttpServer.blocking(route))}.
     */
    public static HttpHandler blocking(HttpHandler route) {
        return new BlockingHandler(new ErrorMapping(route));
    }

    /** A whole HTTP/1.1 answer that closes the connection, for writing below Undertow. */
    private static byte[] rawAnswer(int status, ApiException e) {
        byte[] body = Json.bytes(e.body());
        byte[] head = ("HTTP/1.1 " + status + " " + (status == 408 ? "Request Timeout" : "Error")
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                        + "\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[head.length + body.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(body, 0, all, head.length, body.length);
        return all;
    }

    /** Any exception thrown by a route becomes an OpenAI error; unexpected ones are logged, not shown. */
    private record ErrorMapping(HttpHandler next) implements HttpHandler {
        @Override
        public void handleRequest(HttpServerExchange ex) {
            try {
                next.handleRequest(ex);
            } catch (Throwable t) {
                Errors.sendFailure(ex, t);
            }
        }
    }

    /**
     * Validates {@code X-Request-Id} (vLLM's {@code --enable-request-id-headers}): a valid one is used and echoed,
     * anything else (too long, odd characters) is replaced by a fresh id, so that no client text flows raw into
     * response ids or logs.
     */
    private record RequestIdCheck(boolean echo, HttpHandler next) implements HttpHandler {
        @Override
        public void handleRequest(HttpServerExchange ex) throws Exception {
            String given = ex.getRequestHeaders().getFirst(REQUEST_ID);
            if (given != null) {
                String id = requestId(ex);
                if (echo) {
                    ex.getResponseHeaders().put(REQUEST_ID, id);
                }
            }
            next.handleRequest(ex);
        }
    }

    /**
     * A request body must arrive within the deadline: after it, a connection whose body is still incomplete
     * (a slow client, a body shorter than its Content-Length, a chunk that never ends) gets a 408 with OpenAI error
     * JSON, written under Undertow since the route's worker is blocked reading, and is closed, which also frees
     * that worker.
     */
    private record BodyDeadline(long millis, byte[] timedOut, HttpHandler next) implements HttpHandler {
        @Override
        public void handleRequest(HttpServerExchange ex) throws Exception {
            if (!ex.isRequestComplete()) {
                XnioExecutor.Key timer = ex.getIoThread()
                        .executeAfter(
                                () -> {
                                    if (!ex.isRequestComplete() && !ex.isComplete()) {
                                        LOG.debug("closing a connection whose request body did not arrive in time");
                                        if (!ex.isResponseStarted()
                                                && ex.getConnection() instanceof HttpServerConnection c) {
                                            try {
                                                c.getOriginalSinkConduit().write(ByteBuffer.wrap(timedOut));
                                            } catch (IOException | RuntimeException ignored) {
                                                // closing anyway
                                            }
                                        }
                                        IoUtils.safeClose(ex.getConnection());
                                    }
                                },
                                millis,
                                TimeUnit.MILLISECONDS);
                ex.addExchangeCompleteListener((done, nextListener) -> {
                    timer.remove();
                    nextListener.proceed();
                });
            }
            next.handleRequest(ex);
        }
    }

    /** {@code /v1/*} needs the bearer key; health and metrics stay open, as in vLLM. */
    private record ApiKeyCheck(String key, HttpHandler next) implements HttpHandler {
        @Override
        public void handleRequest(HttpServerExchange ex) throws Exception {
            if (ex.getRequestPath().startsWith("/v1/")) {
                String auth = ex.getRequestHeaders().getFirst("Authorization");
                String given = auth != null && auth.startsWith("Bearer ")
                        ? auth.substring(7).trim()
                        : "";
                boolean ok = MessageDigest.isEqual(
                        given.getBytes(StandardCharsets.UTF_8), key.getBytes(StandardCharsets.UTF_8));
                if (!ok) {
                    Errors.send(ex, new ApiException(401, "Unauthorized: missing or wrong API key", null));
                    return;
                }
            }
            next.handleRequest(ex);
        }
    }
}
