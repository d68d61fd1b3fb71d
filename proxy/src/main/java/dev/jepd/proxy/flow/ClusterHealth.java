package dev.jepd.proxy.flow;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.Json;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.UpstreamClient;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code GET /health} of the proxy, as {@code disagg_epd_proxy.py} answers it:
 * {@code {"proxy":"healthy","encode_cluster":…,"prefill_cluster":…,"decode_cluster":…}}, each cluster
 * {@code empty} (no nodes), {@code healthy} (every node's {@code /health} answered 2xx) or
 * {@code unhealthy}; HTTP 503 if any cluster is unhealthy. All nodes are probed at once, each within
 * {@link #PROBE_LIMIT} (or the upstream time-out, if shorter).
 */
public final class ClusterHealth {
    static final Duration PROBE_LIMIT = Duration.ofSeconds(5);

    private final Map<String, Cluster> clusters = new LinkedHashMap<>();
    private final UpstreamClient client;
    private final Duration limit;

    public ClusterHealth(Cluster encode, Cluster prefill, Cluster decode, UpstreamClient client) {
        clusters.put("encode_cluster", encode);
        clusters.put("prefill_cluster", prefill);
        clusters.put("decode_cluster", decode);
        this.client = client;
        this.limit = client.timeout().compareTo(PROBE_LIMIT) < 0 ? client.timeout() : PROBE_LIMIT;
    }

    public record Report(int status, ObjectNode body) {}

    public Report check(RequestContext ctx) {
        Map<String, List<CompletableFuture<HttpResponse<byte[]>>>> probes = new LinkedHashMap<>();
        clusters.forEach((name, cluster) -> {
            List<CompletableFuture<HttpResponse<byte[]>>> list = new ArrayList<>();
            for (Node node : cluster.nodes()) {
                list.add(client.getAsync(node, "/health", ctx.authOnly(), limit));
            }
            probes.put(name, list);
        });
        long deadline = System.nanoTime() + limit.toNanos() + TimeUnit.MILLISECONDS.toNanos(200);
        ObjectNode body = Json.MAPPER.createObjectNode();
        body.put("proxy", "healthy");
        boolean allGood = true;
        for (var e : probes.entrySet()) {
            String state = state(e.getValue(), deadline);
            allGood &= !state.equals("unhealthy");
            body.put(e.getKey(), state);
        }
        return new Report(allGood ? 200 : 503, body);
    }

    private static String state(List<CompletableFuture<HttpResponse<byte[]>>> probes, long deadline) {
        if (probes.isEmpty()) {
            return "empty";
        }
        boolean healthy = true;
        for (var probe : probes) {
            try {
                HttpResponse<byte[]> r = probe.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                healthy &= r.statusCode() / 100 == 2;
            } catch (TimeoutException | ExecutionException e) {
                probe.cancel(true);
                healthy = false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "unhealthy";
            }
        }
        return healthy ? "healthy" : "unhealthy";
    }
}
