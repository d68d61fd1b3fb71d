package dev.jepd.proxy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.ClientConnection;
import dev.jepd.api.HttpServer;
import dev.jepd.api.Json;
import dev.jepd.api.Sse;
import dev.jepd.proxy.flow.ClusterHealth;
import dev.jepd.proxy.flow.Disaggregation;
import dev.jepd.proxy.flow.EncoderFanout;
import dev.jepd.proxy.flow.IoThreadFlow;
import dev.jepd.proxy.flow.Membership;
import dev.jepd.proxy.flow.ProfileFanout;
import dev.jepd.proxy.flow.ProxyReply;
import dev.jepd.proxy.flow.RequestContext;
import dev.jepd.proxy.upstream.ClientWatch;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Member;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.UpstreamClient;
import dev.jepd.proxy.upstream.UpstreamResponse;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's routes: each reads the request, calls one flow and writes what came back. Nothing else
 * happens here; {@link ProxyServer} composes them into the server.
 */
final class ProxyRoutes {
    private static final Logger LOG = LoggerFactory.getLogger(ProxyRoutes.class);

    private final Disaggregation flow;
    private final ClusterHealth health;
    private final ProfileFanout profile;
    private final Membership membership;
    private final EncoderFanout encoders;
    private final UpstreamClient client;
    private final Cluster decode;
    private final long maxBodyBytes;
    private final IoThreadFlow ioFlow;

    ProxyRoutes(
            Disaggregation flow,
            ClusterHealth health,
            ProfileFanout profile,
            Membership membership,
            EncoderFanout encoders,
            UpstreamClient client,
            Cluster decode,
            long maxBodyBytes,
            IoThreadFlow ioFlow) {
        this.flow = flow;
        this.health = health;
        this.profile = profile;
        this.membership = membership;
        this.encoders = encoders;
        this.client = client;
        this.decode = decode;
        this.maxBodyBytes = maxBodyBytes;
        this.ioFlow = ioFlow;
    }

    void chat(HttpServerExchange ex) {
        chat(ex, body(ex));
    }

    void completions(HttpServerExchange ex) {
        completions(ex, body(ex));
    }

    private void chat(HttpServerExchange ex, byte[] body) {
        RequestContext ctx = watched(ex);
        write(ex, flow.chat(body, ctx), ctx);
    }

    private void completions(HttpServerExchange ex, byte[] body) {
        RequestContext ctx = watched(ex);
        write(ex, flow.completions(body, ctx), ctx);
    }

    /**
     * {@code POST /v1/chat/completions} started on the IO thread: served there by {@link IoThreadFlow} when it
     * takes the request, else (or once it hands the request over) by {@link #chat} on a worker.
     */
    void chatOnIoThread(HttpServerExchange ex) {
        onIoThread(ex, Disaggregation.CHAT, this::chat, this::chat);
    }

    /** {@code POST /v1/completions}, as {@link #chatOnIoThread}. */
    void completionsOnIoThread(HttpServerExchange ex) {
        onIoThread(ex, Disaggregation.COMPLETIONS, this::completions, this::completions);
    }

    private void onIoThread(
            HttpServerExchange ex,
            String path,
            HttpHandler whole,
            java.util.function.BiConsumer<HttpServerExchange, byte[]> withBody) {
        if (ioFlow == null || !ioFlow.takes(ex)) {
            ex.dispatch(HttpServer.blocking(whole));
            return;
        }
        ioFlow.serve(ex, path, (e, raw) -> e.dispatch(HttpServer.blocking(x -> withBody.accept(x, raw))));
    }

    /** Forwarded to the first decode node (as vLLM's proxy does), the first routable one when some are not. */
    void models(HttpServerExchange ex) {
        RequestContext ctx = context(ex);
        List<Member> members = decode.members();
        if (members.isEmpty()) {
            throw new ApiException(503, "no decode node is configured", null);
        }
        Node node = members.stream()
                .filter(Member::healthy)
                .findFirst()
                .orElse(members.getFirst())
                .node();
        send(ex, client.get(node, "/v1/models", ctx.authOnly()));
    }

    void instances(HttpServerExchange ex) {
        ObjectNode out = membership.list();
        ObjectNode counters = out.putObject("counters");
        encoders.counters().forEach(counters::put);
        Json.send(ex, 200, out);
    }

    void addInstance(HttpServerExchange ex) {
        Json.send(ex, 200, membership.add(body(ex), ex.getRequestHeaders().getFirst("X-API-Key")));
    }

    void removeInstance(HttpServerExchange ex) {
        Json.send(ex, 200, membership.remove(body(ex), ex.getRequestHeaders().getFirst("X-API-Key")));
    }

    void health(HttpServerExchange ex) {
        ClusterHealth.Report report = health.check(context(ex));
        Json.send(ex, report.status(), report.body());
    }

    void profile(HttpServerExchange ex, String command) {
        byte[] body = body(ex);
        Json.send(ex, 200, profile.run(command, body, context(ex)));
    }

    private static void write(HttpServerExchange ex, ProxyReply reply, RequestContext ctx) {
        try (reply) {
            switch (reply) {
                case ProxyReply.Whole whole -> send(ex, whole.response());
                case ProxyReply.Streamed streamed -> {
                    String type = streamed.stream().contentType();
                    ex.setStatusCode(streamed.stream().status());
                    ex.getResponseHeaders().put(Headers.CONTENT_TYPE, type != null ? type : Sse.CONTENT_TYPE);
                    try {
                        streamed.stream().relayTo(ex.getOutputStream());
                    } catch (IOException e) {
                        LOG.info("[{}] client went away mid-stream; upstream cancelled", ctx.requestId());
                    }
                }
            }
        }
    }

    private static void send(HttpServerExchange ex, UpstreamResponse r) {
        ex.setStatusCode(r.status());
        ex.getResponseHeaders()
                .put(Headers.CONTENT_TYPE, r.contentType() != null ? r.contentType() : "application/json");
        ex.getResponseSender().send(ByteBuffer.wrap(r.body()));
    }

    private static RequestContext context(HttpServerExchange ex) {
        return RequestContext.of(ex, ClientWatch.NONE);
    }

    /**
     * As {@link #context}, watching the client: the request's upstream calls are cut once it closes its
     * connection (the body has been read by then, so the probe sees only what comes after it).
     */
    private static RequestContext watched(HttpServerExchange ex) {
        return RequestContext.of(ex, ClientWatch.of(() -> ClientConnection.gone(ex)));
    }

    /** The raw request body, up to {@code --max-body-bytes}. */
    private byte[] body(HttpServerExchange ex) {
        long declared = ex.getRequestContentLength();
        if (declared > maxBodyBytes) {
            throw tooLarge();
        }
        byte[] body;
        try { // blocking mode: the server's BlockingHandler has set it up
            body = ex.getInputStream().readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBodyBytes + 1));
        } catch (IOException e) {
            throw new ApiException(400, "could not read the request body: " + e.getMessage(), null);
        }
        if (body.length > maxBodyBytes) {
            throw tooLarge();
        }
        return body;
    }

    private ApiException tooLarge() {
        return new ApiException(413, "request body exceeds --max-body-bytes (" + maxBodyBytes + " bytes)", null);
    }
}
