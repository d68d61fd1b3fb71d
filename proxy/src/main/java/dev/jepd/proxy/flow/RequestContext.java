package dev.jepd.proxy.flow;

import dev.jepd.api.HttpServer;
import dev.jepd.proxy.upstream.ClientWatch;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.Headers;
import java.util.HashMap;
import java.util.Map;

/**
 * What a client request passes on to its upstream requests: its id ({@code x-request-id}, the same for
 * prefill and decode so that their KV transfer matches up) and its {@code Authorization} header, so that
 * nodes started with {@code --api-key} accept the proxied request; and the watch on its client, which cuts every
 * upstream call of the request once the client has gone.
 */
public record RequestContext(String requestId, String authorization, ClientWatch watch) {
    /** A request whose client is not watched (tests, calls that are not a client's request). */
    public RequestContext(String requestId, String authorization) {
        this(requestId, authorization, ClientWatch.NONE);
    }

    /**
     * The context of a client's request: the client's id when it is a valid one (the nodes' rule, {@link
     * HttpServer#requestId}), else a fresh one that the client then sees echoed; an invalid id is never forwarded.
     */
    public static RequestContext of(HttpServerExchange ex, ClientWatch watch) {
        String given = ex.getRequestHeaders().getFirst(HttpServer.REQUEST_ID);
        String id = HttpServer.requestId(ex);
        if (!id.equals(given)) {
            ex.getResponseHeaders().put(HttpServer.REQUEST_ID, id);
        }
        return new RequestContext(id, ex.getRequestHeaders().getFirst(Headers.AUTHORIZATION), watch);
    }

    /** Headers for prefill and decode requests. */
    public Map<String, String> headers() {
        return headers(requestId);
    }

    /** Headers with another request id (an encoder request's child id). */
    public Map<String, String> headers(String id) {
        Map<String, String> h = new HashMap<>(2);
        h.put("x-request-id", id);
        if (authorization != null) {
            h.put("Authorization", authorization);
        }
        return h;
    }

    /** Only the authorization, for requests that are not part of one client request (probes, profile). */
    public Map<String, String> authOnly() {
        return authorization == null ? Map.of() : Map.of("Authorization", authorization);
    }
}
