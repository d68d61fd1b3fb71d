package dev.jepd.api;

import io.undertow.Handlers;
import io.undertow.Undertow;
import io.undertow.UndertowOptions;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.RoutingHandler;
import io.undertow.server.handlers.BlockingHandler;
import io.undertow.server.handlers.GracefulShutdownHandler;
import io.undertow.util.HttpString;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Undertow server with JEPD's handler chain, composed here and only here:
 * graceful shutdown → request id echo → API key check → error mapping → routes. Routes registered with
 * {@link Builder#post}/{@link Builder#get} run on worker threads and may block; every exception becomes
 * an OpenAI error response (no stack trace ever reaches a client).
 */
public final class HttpServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpServer.class);
    public static final HttpString REQUEST_ID = new HttpString("X-Request-Id");

    private final Undertow undertow;
    private final GracefulShutdownHandler shutdown;
    private final int port;

    private HttpServer(Undertow undertow, GracefulShutdownHandler shutdown, int port) {
        this.undertow = undertow;
        this.shutdown = shutdown;
        this.port = port;
    }

    public static Builder builder(String name) {
        return new Builder(name);
    }

    public int port() {
        return port;
    }

    /** Stops taking requests, lets running ones finish for up to {@code millis}, then stops. */
    public void shutdown(long millis) {
        shutdown.shutdown();
        try {
            shutdown.awaitShutdown(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        undertow.stop();
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

        public HttpServer start() {
            routes.setFallbackHandler(
                    ex -> Errors.send(ex, new ApiException(404, "Not Found: " + ex.getRequestPath(), null)));
            routes.setInvalidMethodHandler(
                    ex -> Errors.send(ex, new ApiException(405, "Method Not Allowed: " + ex.getRequestMethod(), null)));
            HttpHandler chain = new ErrorMapping(routes);
            if (apiKey != null && !apiKey.isEmpty()) {
                chain = new ApiKeyCheck(apiKey, chain);
            }
            if (echoRequestId) {
                chain = new RequestIdEcho(chain);
            }
            GracefulShutdownHandler graceful = Handlers.gracefulShutdown(chain);
            Undertow u = Undertow.builder()
                    .addHttpListener(port, host)
                    .setWorkerThreads(workerThreads)
                    .setServerOption(UndertowOptions.MAX_ENTITY_SIZE, maxEntityBytes)
                    .setServerOption(UndertowOptions.ALWAYS_SET_KEEP_ALIVE, true)
                    .setHandler(graceful)
                    .build();
            u.start();
            int actual = ((InetSocketAddress) u.getListenerInfo().getFirst().getAddress()).getPort();
            LOG.info("{} listening on http://{}:{}", name, host, actual);
            return new HttpServer(u, graceful, actual);
        }
    }

    /** Any exception thrown by a route becomes an OpenAI error; unexpected ones are logged, not shown. */
    private record ErrorMapping(HttpHandler next) implements HttpHandler {
        @Override
        public void handleRequest(HttpServerExchange ex) {
            try {
                next.handleRequest(ex);
            } catch (ApiException e) {
                Errors.send(ex, e);
            } catch (Throwable t) {
                LOG.error("unhandled error on {} {}", ex.getRequestMethod(), ex.getRequestPath(), t);
                Errors.send(
                        ex,
                        new ApiException(
                                500, "internal server error: " + t.getClass().getSimpleName(), null));
            }
        }
    }

    /** Honours and echoes {@code X-Request-Id} (vLLM's {@code --enable-request-id-headers}). */
    private record RequestIdEcho(HttpHandler next) implements HttpHandler {
        @Override
        public void handleRequest(HttpServerExchange ex) throws Exception {
            String id = ex.getRequestHeaders().getFirst(REQUEST_ID);
            if (id != null) {
                ex.getResponseHeaders().put(REQUEST_ID, id);
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
