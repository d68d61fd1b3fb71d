package dev.jepd.proxy.flow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Reply;
import dev.jepd.proxy.upstream.UpstreamClient;
import dev.jepd.proxy.upstream.UpstreamFailure;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * {@code POST /start_profile} and {@code /stop_profile} sent to every node of every cluster (vLLM's proxy
 * picks one node per cluster and says so in a TODO). A node answering 404 has profiling disabled and is
 * reported as such; if all do, the answer is 503 as in vLLM. A node that is unreachable or fails makes
 * the answer a 502 naming it. Success lists each node's answer:
 * {@code {"encode":[{"url","status","body"}…],"prefill":[…],"decode":[…]}}.
 */
public final class ProfileFanout {
    private final Map<String, Cluster> clusters = new LinkedHashMap<>();
    private final UpstreamClient client;

    public ProfileFanout(Cluster encode, Cluster prefill, Cluster decode, UpstreamClient client) {
        clusters.put("encode", encode);
        clusters.put("prefill", prefill);
        clusters.put("decode", decode);
        this.client = client;
    }

    /** {@code command} is {@code start} or {@code stop}. */
    public ObjectNode run(String command, byte[] body, RequestContext ctx) {
        String path = "/" + command + "_profile";
        byte[] payload = body.length == 0 ? "{}".getBytes(StandardCharsets.UTF_8) : body;
        Map<String, List<Call>> calls = new LinkedHashMap<>();
        clusters.forEach((name, cluster) -> {
            List<Call> list = new ArrayList<>();
            for (Node node : cluster.nodes()) {
                list.add(new Call(node, client.postAsync(node, path, payload, ctx.authOnly())));
            }
            calls.put(name, list);
        });
        ObjectNode result = Json.MAPPER.createObjectNode();
        List<String> failures = new ArrayList<>();
        int answered = 0;
        int missing = 0;
        for (var e : calls.entrySet()) {
            ArrayNode list = result.putArray(e.getKey());
            for (Call call : e.getValue()) {
                Reply r;
                try {
                    r = UpstreamClient.await(call.node, call.future, client.timeout());
                } catch (ApiException failure) {
                    failures.add(failure.getMessage());
                    continue;
                }
                answered++;
                if (r.statusCode() == 404) {
                    missing++;
                } else if (r.statusCode() / 100 != 2) {
                    failures.add(UpstreamFailure.status(call.node, r.statusCode(), r.body())
                            .getMessage());
                    continue;
                }
                ObjectNode entry = list.addObject();
                entry.put("url", call.node.url());
                entry.put("status", r.statusCode());
                entry.set("body", r.statusCode() == 404 ? null : parse(r.body()));
            }
        }
        if (!failures.isEmpty()) {
            throw new ApiException(502, command + "_profile failed: " + String.join("; ", failures), null);
        }
        if (answered > 0 && missing == answered) {
            throw new ApiException(503, "Profiling endpoints are disabled on all clusters", null);
        }
        return result;
    }

    private static JsonNode parse(byte[] body) {
        if (body == null || body.length == 0) {
            return null;
        }
        try {
            return Json.MAPPER.readTree(body);
        } catch (IOException e) {
            return Json.MAPPER.getNodeFactory().textNode(new String(body, StandardCharsets.UTF_8));
        }
    }

    private record Call(Node node, CompletableFuture<Reply> future) {}
}
