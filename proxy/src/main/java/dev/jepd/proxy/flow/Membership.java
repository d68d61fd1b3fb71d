package dev.jepd.proxy.flow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.Member;
import dev.jepd.proxy.upstream.Node;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Nodes added and removed while the proxy runs.
 *
 * <p>{@code POST /instances} (also {@code POST /instances/add}, the path of vLLM's
 * {@code disagg_proxy_demo.py}) adds one node: {@code {"type":"encode"|"prefill"|"decode","instance":"host:port"}}
 * as vLLM's, or {@code "url":"http://host:port"}. {@code DELETE /instances} (also {@code POST /instances/remove})
 * removes one with the same body; its requests in flight finish. {@code GET /instances} lists the members
 * with their health. When an admin key is set ({@code --admin-api-key} or {@code ADMIN_API_KEY}, as vLLM's),
 * changes need it in {@code X-API-Key}.
 *
 * <p>{@code --config FILE}: a JSON object {@code {"encode":[urls],"prefill":[urls],"decode":[urls]}} (a list or
 * one comma-separated string each; a missing key leaves that cluster alone) read at start and again whenever
 * its modification time or size changes. A file that does not parse is logged and ignored (the proxy keeps
 * its nodes). A reload replaces the listed clusters' members, undoing {@code /instances} changes to them.
 */
public final class Membership {
    private static final Logger LOG = LoggerFactory.getLogger(Membership.class);

    private final Map<String, Cluster> clusters = new LinkedHashMap<>();
    private final String adminKey;
    private final Path configFile;
    private FileTime seenTime; // guarded by this
    private long seenSize = -1; // guarded by this

    public Membership(Cluster encode, Cluster prefill, Cluster decode, String adminKey, Path configFile) {
        clusters.put("encode", encode);
        clusters.put("prefill", prefill);
        clusters.put("decode", decode);
        this.adminKey = adminKey == null || adminKey.isEmpty() ? null : adminKey;
        this.configFile = configFile;
    }

    /** {@code GET /instances}. */
    public ObjectNode list() {
        ObjectNode out = Json.MAPPER.createObjectNode();
        clusters.forEach((name, cluster) -> {
            ArrayNode list = out.putArray(name);
            for (Member m : cluster.members()) {
                ObjectNode n = list.addObject();
                n.put("url", m.node().url());
                n.put("routable", m.healthy());
                n.put("in_flight", m.inFlight());
                if (m.lastError() != null) {
                    n.put("last_error", m.lastError());
                }
            }
        });
        return out;
    }

    /** {@code POST /instances}: adds the node named in {@code body}. */
    public ObjectNode add(byte[] body, String apiKey) {
        checkKey(apiKey);
        Target t = target(body);
        if (!t.cluster.add(t.node)) {
            throw ApiException.badRequest("Instance already exists: " + t.node.url(), "instance");
        }
        LOG.info("/instances: added {}", t.node);
        return message("Added " + t.node.url() + " to " + t.type + " instances.");
    }

    /** {@code DELETE /instances}: removes the node named in {@code body}. */
    public ObjectNode remove(byte[] body, String apiKey) {
        checkKey(apiKey);
        Target t = target(body);
        if (!t.cluster.remove(t.node.url())) {
            throw new ApiException(404, "No " + t.type + " instance " + t.node.url(), "instance");
        }
        LOG.info("/instances: removed {}", t.node);
        return message("Removed " + t.node.url() + " from " + t.type + " instances.");
    }

    /** Reads {@code --config} if it changed since the last look; true if it was applied. */
    public synchronized boolean reloadIfChanged() {
        if (configFile == null) {
            return false;
        }
        FileTime time;
        long size;
        try {
            time = Files.getLastModifiedTime(configFile);
            size = Files.size(configFile);
        } catch (IOException e) {
            if (seenSize != -2) {
                LOG.warn("--config {} cannot be read: {}", configFile, e.toString());
                seenSize = -2;
            }
            return false;
        }
        if (time.equals(seenTime) && size == seenSize) {
            return false;
        }
        seenTime = time;
        seenSize = size;
        try {
            apply(read(configFile));
            LOG.info("--config {} applied: {}", configFile, clusters.values());
            return true;
        } catch (IOException | IllegalArgumentException e) {
            LOG.error("--config {} ignored (the proxy keeps its nodes): {}", configFile, e.getMessage());
            return false;
        }
    }

    /** The clusters a config file lists: cluster name → nodes. */
    public static Map<String, List<Node>> read(Path file) throws IOException {
        JsonNode json = Json.MAPPER.readTree(Files.readAllBytes(file));
        if (json == null || !json.isObject()) {
            throw new IllegalArgumentException(
                    "must be a JSON object {\"encode\":[...],\"prefill\":[...],\"decode\":[...]}");
        }
        Map<String, List<Node>> out = new LinkedHashMap<>();
        for (var it = json.fields(); it.hasNext(); ) {
            var e = it.next();
            String name = e.getKey().toLowerCase(Locale.ROOT);
            if (!List.of("encode", "prefill", "decode").contains(name)) {
                throw new IllegalArgumentException(
                        "unknown key '" + e.getKey() + "' (expected encode, prefill, decode)");
            }
            List<Node> nodes = new ArrayList<>();
            JsonNode v = e.getValue();
            if (v.isTextual()) {
                for (String part : v.asText().split(",")) {
                    if (!part.isBlank()) {
                        nodes.add(Node.parse(name, part));
                    }
                }
            } else if (v.isArray()) {
                for (JsonNode u : v) {
                    nodes.add(Node.parse(name, u.asText()));
                }
            } else if (!v.isNull()) {
                throw new IllegalArgumentException("'" + e.getKey() + "' must be a list of URLs");
            }
            out.put(name, nodes);
        }
        if (out.containsKey("decode") && out.get("decode").isEmpty()) {
            throw new IllegalArgumentException("'decode' needs at least one URL");
        }
        return out;
    }

    private void apply(Map<String, List<Node>> nodes) {
        nodes.forEach((name, list) -> clusters.get(name).replaceWith(list));
    }

    private record Target(String type, Cluster cluster, Node node) {}

    private Target target(byte[] raw) {
        ObjectNode body = Json.parseObject(raw);
        String type = body.path("type").asText("").toLowerCase(Locale.ROOT);
        if (type.equals("pd") || type.equals("prefill_decode")) {
            type = "decode";
        }
        Cluster cluster = clusters.get(type);
        if (cluster == null) {
            throw ApiException.badRequest(
                    "Invalid instance type '" + type + "' (expected encode, prefill or decode)", "type");
        }
        String url = body.path("url").asText(null);
        if (url == null) {
            String instance = body.path("instance").asText(null);
            if (instance == null || instance.isBlank()) {
                throw ApiException.badRequest(
                        "give \"instance\":\"host:port\" or \"url\":\"http://host:port\"", "instance");
            }
            url = instance.contains("://") ? instance : "http://" + instance.strip();
        }
        try {
            return new Target(type, cluster, Node.parse(type, url));
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("Invalid instance address: " + e.getMessage(), "instance");
        }
    }

    private void checkKey(String given) {
        if (adminKey == null) {
            return;
        }
        if (given == null
                || !MessageDigest.isEqual(
                        given.getBytes(StandardCharsets.UTF_8), adminKey.getBytes(StandardCharsets.UTF_8))) {
            throw new ApiException(403, "Forbidden: Invalid API Key.", null);
        }
    }

    private static ObjectNode message(String text) {
        return Json.MAPPER.createObjectNode().put("message", text);
    }
}
