package dev.jepd.proxy.flow;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.Json;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Member;
import dev.jepd.proxy.upstream.Reply;
import dev.jepd.proxy.upstream.UpstreamClient;
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
 * {@code empty} (no nodes), {@code healthy} (every node's {@code /health} answered 2xx), {@code degraded}
 * (some did: the proxy routes around the others) or {@code unhealthy} (none did); HTTP 503 if any cluster is
 * unhealthy, as vLLM's. JEPD adds {@code nodes}: per cluster, each node's URL, what its probe said now
 * ({@code healthy}/{@code unhealthy}), whether the router sends it requests ({@code routable}), its requests
 * (or image tokens) in flight and why it was last evicted. All nodes are probed at once, each within
 * {@link #PROBE_LIMIT} (or the upstream time-out, if shorter).
 */
public final class ClusterHealth {
    static final Duration PROBE_LIMIT = Duration.ofSeconds(5);

    private final Map<String, Cluster> clusters = new LinkedHashMap<>();
    private final UpstreamClient client;
    private final Duration limit;

    public ClusterHealth(Cluster encode, Cluster prefill, Cluster decode, UpstreamClient client) {
        clusters.put("encode", encode);
        clusters.put("prefill", prefill);
        clusters.put("decode", decode);
        this.client = client;
        this.limit = client.timeout().compareTo(PROBE_LIMIT) < 0 ? client.timeout() : PROBE_LIMIT;
    }

    public record Report(int status, ObjectNode body) {}

    private record Probe(Member member, CompletableFuture<Reply> answer) {}

    public Report check(RequestContext ctx) {
        Map<String, List<Probe>> probes = new LinkedHashMap<>();
        clusters.forEach((name, cluster) -> {
            List<Probe> list = new ArrayList<>();
            for (Member m : cluster.members()) {
                list.add(new Probe(m, client.getAsync(m.node(), "/health", ctx.authOnly(), limit)));
            }
            probes.put(name, list);
        });
        long deadline = System.nanoTime() + limit.toNanos() + TimeUnit.MILLISECONDS.toNanos(200);
        ObjectNode body = Json.MAPPER.createObjectNode();
        body.put("proxy", "healthy");
        ObjectNode nodes = Json.MAPPER.createObjectNode();
        boolean allGood = true;
        for (var e : probes.entrySet()) {
            ArrayNode list = nodes.putArray(e.getKey());
            int up = 0;
            for (Probe p : e.getValue()) {
                boolean ok = answered(p.answer, deadline);
                up += ok ? 1 : 0;
                ObjectNode n = list.addObject();
                n.put("url", p.member.node().url());
                n.put("status", ok ? "healthy" : "unhealthy");
                n.put("routable", p.member.healthy());
                n.put("in_flight", p.member.inFlight());
                if (p.member.lastError() != null) {
                    n.put("last_error", p.member.lastError());
                }
            }
            int all = e.getValue().size();
            String state = all == 0 ? "empty" : up == all ? "healthy" : up > 0 ? "degraded" : "unhealthy";
            allGood &= !state.equals("unhealthy");
            body.put(e.getKey() + "_cluster", state);
        }
        body.set("nodes", nodes);
        return new Report(allGood ? 200 : 503, body);
    }

    private static boolean answered(CompletableFuture<Reply> probe, long deadline) {
        try {
            Reply r = probe.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            return r.statusCode() / 100 == 2;
        } catch (TimeoutException | ExecutionException e) {
            probe.cancel(true);
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
