package dev.jepd.transfer.kv;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.transfer.vllm.VllmWireVersion;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The {@code --kv-transfer-config} JSON, named as vLLM's {@code KVTransferConfig}, so one launch line serves both.
 *
 * <p>{@code kv_connector} {@code NixlConnector} is accepted with its meaning: the decode node reads the blocks with
 * NIXL (through Panama, on {@code libnixl_capi}) where the library is installed, after a handshake over JEPD's side
 * channel; where it is not, JEPD's own TCP transport carries them, and the log says why. {@code JepdConnector}
 * names the TCP transport. {@code kv_connector_extra_config} holds JEPD's settings: {@code kv_transport}
 * ({@code auto}, the default: as just said; {@code nixl}: NIXL or refuse to start; {@code tcp}), {@code backends}
 * (NIXL backends, as vLLM's NixlConnector; default {@code ["UCX"]}), {@code nixl_staging_mib} (the prefill node's
 * NIXL-registered staging buffer and the decode node's receive buffer; default 256), {@code side_channel_port}
 * (default 5600, as vLLM's {@code VLLM_NIXL_SIDE_CHANNEL_PORT}; 0 picks a free port), {@code side_channel_host}
 * (the address the prefill node advertises; default the listen host, or 127.0.0.1 when listening on all interfaces),
 * {@code lease_seconds} (how long a prefill node holds blocks no decode node has confirmed; default 480, as
 * vLLM), {@code transfer_timeout_seconds} (bound on one pull; default 30) and {@code kv_load_failure_policy}
 * ({@code fail}, the default: the decode request fails with 502; {@code recompute}: the decode node prefills
 * itself). {@code kv_load_failure_policy} is also accepted at the top level, where newer vLLM puts it.
 *
 * <p>{@code side_channel} picks the handshake's protocol: {@code jepd} (the default: JEPD's own side channel, between
 * JEPD nodes) or {@code vllm} (vLLM's NixlConnector wire, so a stock vLLM decode node can read this prefill node:
 * a ZMQ ROUTER on {@code side_channel_port}, vLLM's msgpack handshake, the KV in vLLM's HND bf16 layout), or a
 * decode node can read a stock vLLM prefill node; {@code kv_producer} or {@code kv_consumer}, NIXL required. With {@code vllm}: {@code vllm_block_size} (the vLLM decode node's
 * {@code --block-size}, default 16), and the compatibility hash vLLM's decode node checks: {@code vllm_compat_hash}
 * verbatim, else computed from {@code vllm_version} (the decode node's {@code vllm.__version__}) and
 * {@code vllm_attn_backend} (default {@code FLASH_ATTN}); with neither, the decode node must run with
 * {@code "enforce_handshake_compat": false}. {@code vllm_wire_version} names vLLM's {@code NIXL_CONNECTOR_VERSION}
 * spoken: {@code 2} (the single-file nixl_connector.py) or {@code 12} (the nixl/ package: per-group block ids,
 * heartbeat-renewed leases), or {@code auto}: a decode node then follows each request's {@code kv_transfer_params}
 * shape (the default for {@code kv_consumer}); a prefill node must name one (its params leave before any decode
 * node asks; default {@code 2}). On version 12 a prefill node's lease is vLLM's {@code kv_lease_duration} (seconds,
 * default 30; each heartbeat extends it to 2/3 of that from now) and the computed hash takes
 * {@code vllm_hma_enabled} (vLLM's hybrid KV-cache manager, default true).
 *
 * @param engineId {@code engine_id}, or null to let the node make one up
 * @param vllm vLLM's wire settings with {@code side_channel: vllm}; null with JEPD's side channel
 */
public record KvTransferConfig(
        String connector,
        Role role,
        String engineId,
        int sideChannelPort,
        String sideChannelHost,
        Duration lease,
        Duration transferTimeout,
        FailurePolicy failurePolicy,
        Transport transport,
        List<String> nixlBackends,
        int nixlStagingMib,
        Vllm vllm) {

    /**
     * {@code side_channel: vllm}'s settings.
     *
     * @param blockSize the vLLM decode node's block size
     * @param compatHash the hash to send verbatim, or null to compute it
     * @param version the paired vLLM's version for the computed hash, or null when unknown
     * @param attnBackend the vLLM decode node's attention backend name, for the computed hash
     */
    public record Vllm(
            int blockSize,
            String compatHash,
            String version,
            String attnBackend,
            VllmWireVersion wire,
            int leaseDurationSeconds,
            boolean hmaEnabled) {
        public static final int DEFAULT_KV_LEASE_DURATION = 30;

        public Vllm {
            if (blockSize < 1) {
                throw new KvTransferConfigException("kv_connector_extra_config.vllm_block_size must be positive");
            }
            if (leaseDurationSeconds < 2) {
                throw new KvTransferConfigException("kv_connector_extra_config.kv_lease_duration must be at least 2"
                        + " (seconds; heartbeats come every kv_lease_duration // 6)");
            }
        }

        /** Version 2, as before version 12 was spoken. */
        public Vllm(int blockSize, String compatHash, String version, String attnBackend) {
            this(blockSize, compatHash, version, attnBackend, VllmWireVersion.V2, DEFAULT_KV_LEASE_DURATION, true);
        }
    }

    public static final List<String> ACCEPTED_CONNECTORS = List.of("NixlConnector", "JepdConnector");
    public static final int DEFAULT_SIDE_CHANNEL_PORT = 5600;
    public static final int DEFAULT_LEASE_SECONDS = 480;
    public static final int DEFAULT_TRANSFER_TIMEOUT_SECONDS = 30;
    public static final int DEFAULT_NIXL_STAGING_MIB = 256;

    private static final List<String> KNOWN_FIELDS =
            List.of("kv_connector", "kv_role", "kv_connector_extra_config", "engine_id", "kv_load_failure_policy");
    /** The rest of vLLM's KVTransferConfig: meaningful only to its other connectors or to multi-GPU setups. */
    private static final List<String> IGNORED_VLLM_FIELDS = List.of(
            "kv_buffer_device",
            "kv_buffer_size",
            "kv_rank",
            "kv_parallel_size",
            "kv_ip",
            "kv_port",
            "kv_connector_module_path",
            "enable_permute_local_kv");

    /** The extra-config fields that only {@code side_channel: vllm} reads. */
    private static final List<String> VLLM_EXTRA_FIELDS = List.of(
            "vllm_block_size",
            "vllm_compat_hash",
            "vllm_version",
            "vllm_attn_backend",
            "vllm_wire_version",
            "kv_lease_duration",
            "vllm_hma_enabled");

    private static final List<String> EXTRA_FIELDS = Stream.concat(
                    Stream.of(
                            "side_channel_port",
                            "side_channel_host",
                            "lease_seconds",
                            "transfer_timeout_seconds",
                            "kv_load_failure_policy",
                            "kv_transport",
                            "backends",
                            "nixl_staging_mib",
                            "side_channel"),
                    VLLM_EXTRA_FIELDS.stream())
            .toList();

    private static final ObjectMapper JSON = new ObjectMapper();

    public enum Role {
        KV_PRODUCER("kv_producer"),
        KV_CONSUMER("kv_consumer"),
        KV_BOTH("kv_both");

        private final String jsonName;

        Role(String jsonName) {
            this.jsonName = jsonName;
        }

        public String jsonName() {
            return jsonName;
        }

        static Role parse(String name) {
            for (Role r : values()) {
                if (r.jsonName.equals(name)) {
                    return r;
                }
            }
            throw new KvTransferConfigException(
                    "kv_role " + name + " is not supported; accepted: kv_producer, kv_consumer, kv_both");
        }
    }

    public enum FailurePolicy {
        FAIL,
        RECOMPUTE;

        static FailurePolicy parse(String name) {
            return switch (name) {
                case "fail" -> FAIL;
                case "recompute" -> RECOMPUTE;
                default ->
                    throw new KvTransferConfigException(
                            "kv_load_failure_policy " + name + " is not supported; accepted: fail, recompute");
            };
        }
    }

    /** What carries the blocks: {@code auto} follows {@code kv_connector} and the library's presence. */
    public enum Transport {
        AUTO,
        NIXL,
        TCP;

        static Transport parse(String name) {
            return switch (name) {
                case "auto" -> AUTO;
                case "nixl" -> NIXL;
                case "tcp" -> TCP;
                default ->
                    throw new KvTransferConfigException("kv_connector_extra_config.kv_transport " + name
                            + " is not supported; accepted: auto," + " nixl, tcp");
            };
        }
    }

    public KvTransferConfig {
        if (!ACCEPTED_CONNECTORS.contains(connector)) {
            throw new KvTransferConfigException("kv_connector " + connector + " is not supported; accepted: "
                    + String.join(", ", ACCEPTED_CONNECTORS));
        }
        if (role == null) {
            throw new KvTransferConfigException("kv_role is required; accepted: kv_producer, kv_consumer, kv_both");
        }
        if (sideChannelPort < 0 || sideChannelPort > 65535) {
            throw new KvTransferConfigException(
                    "kv_connector_extra_config.side_channel_port must be 0..65535, got " + sideChannelPort);
        }
        if (lease.isNegative() || lease.isZero()) {
            throw new KvTransferConfigException("kv_connector_extra_config.lease_seconds must be positive");
        }
        if (transferTimeout.isNegative() || transferTimeout.isZero()) {
            throw new KvTransferConfigException("kv_connector_extra_config.transfer_timeout_seconds must be positive");
        }
        if (nixlBackends.isEmpty()) {
            throw new KvTransferConfigException("kv_connector_extra_config.backends must name a NIXL backend");
        }
        nixlBackends = List.copyOf(nixlBackends);
        if (nixlStagingMib < 1) {
            throw new KvTransferConfigException("kv_connector_extra_config.nixl_staging_mib must be positive");
        }
        if (transport == Transport.NIXL && !"NixlConnector".equals(connector)) {
            throw new KvTransferConfigException("kv_transport nixl needs kv_connector NixlConnector");
        }
        if (vllm != null) {
            if (!"NixlConnector".equals(connector) || transport == Transport.TCP) {
                throw new KvTransferConfigException("kv_connector_extra_config.side_channel vllm needs kv_connector"
                        + " NixlConnector over NIXL (a vLLM decode node reads the blocks only with NIXL)");
            }
            if (role == Role.KV_BOTH) {
                throw new KvTransferConfigException("kv_connector_extra_config.side_channel vllm is supported for"
                        + " kv_producer or kv_consumer, not yet kv_both");
            }
        }
    }

    /** Parses the JSON given to {@code --kv-transfer-config}. */
    public static KvTransferConfig parse(String json) {
        JsonNode tree;
        try {
            tree = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new KvTransferConfigException("--kv-transfer-config is not valid JSON: " + e.getOriginalMessage());
        }
        if (tree == null || !tree.isObject()) {
            throw new KvTransferConfigException("--kv-transfer-config must be a JSON object, got " + json);
        }
        for (Map.Entry<String, JsonNode> p : tree.properties()) {
            if (!KNOWN_FIELDS.contains(p.getKey()) && !IGNORED_VLLM_FIELDS.contains(p.getKey())) {
                throw new KvTransferConfigException("--kv-transfer-config has an unknown field " + p.getKey()
                        + "; JEPD accepts " + String.join(", ", KNOWN_FIELDS) + " and ignores vLLM's "
                        + String.join(", ", IGNORED_VLLM_FIELDS));
            }
        }
        JsonNode connector = tree.get("kv_connector");
        if (connector == null || !connector.isTextual()) {
            throw new KvTransferConfigException(
                    "kv_connector is required; accepted: " + String.join(", ", ACCEPTED_CONNECTORS));
        }
        JsonNode role = tree.get("kv_role");
        if (role == null || !role.isTextual()) {
            throw new KvTransferConfigException("kv_role is required; accepted: kv_producer, kv_consumer, kv_both");
        }
        JsonNode extra = tree.path("kv_connector_extra_config");
        if (!extra.isMissingNode() && !extra.isNull() && !extra.isObject()) {
            throw new KvTransferConfigException("kv_connector_extra_config must be an object");
        }
        for (Map.Entry<String, JsonNode> p : extra.properties()) {
            if (!EXTRA_FIELDS.contains(p.getKey())) {
                throw new KvTransferConfigException("kv_connector_extra_config has an unknown field " + p.getKey()
                        + "; JEPD accepts " + String.join(", ", EXTRA_FIELDS));
            }
        }
        int port = wholeNumber(extra, "side_channel_port", envPort());
        String host = extra.hasNonNull("side_channel_host")
                ? extra.get("side_channel_host").asText()
                : System.getenv("VLLM_NIXL_SIDE_CHANNEL_HOST");
        int lease = wholeNumber(extra, "lease_seconds", DEFAULT_LEASE_SECONDS);
        int timeout = wholeNumber(extra, "transfer_timeout_seconds", DEFAULT_TRANSFER_TIMEOUT_SECONDS);
        String policy = extra.hasNonNull("kv_load_failure_policy")
                ? extra.get("kv_load_failure_policy").asText()
                : tree.hasNonNull("kv_load_failure_policy")
                        ? tree.get("kv_load_failure_policy").asText()
                        : "fail";
        List<String> backends = List.of("UCX");
        JsonNode b = extra.get("backends");
        if (b != null && !b.isNull()) {
            if (!b.isArray()) {
                throw new KvTransferConfigException("kv_connector_extra_config.backends must be a list of names");
            }
            backends = new ArrayList<>();
            for (JsonNode n : b) {
                if (!n.isTextual()) {
                    throw new KvTransferConfigException("kv_connector_extra_config.backends must be a list of names");
                }
                backends.add(n.asText());
            }
        }
        String transport =
                extra.hasNonNull("kv_transport") ? extra.get("kv_transport").asText() : "auto";
        String sideChannel =
                extra.hasNonNull("side_channel") ? extra.get("side_channel").asText() : "jepd";
        Vllm vllm =
                switch (sideChannel) {
                    case "jepd" -> {
                        for (String f : VLLM_EXTRA_FIELDS) {
                            if (extra.has(f)) {
                                throw new KvTransferConfigException(
                                        "kv_connector_extra_config." + f + " needs side_channel vllm");
                            }
                        }
                        yield null;
                    }
                    case "vllm" ->
                        new Vllm(
                                wholeNumber(extra, "vllm_block_size", 16),
                                extra.hasNonNull("vllm_compat_hash")
                                        ? extra.get("vllm_compat_hash").asText()
                                        : null,
                                extra.hasNonNull("vllm_version")
                                        ? extra.get("vllm_version").asText()
                                        : null,
                                extra.hasNonNull("vllm_attn_backend")
                                        ? extra.get("vllm_attn_backend").asText()
                                        : "FLASH_ATTN",
                                wireVersion(extra, Role.parse(role.asText())),
                                wholeNumber(extra, "kv_lease_duration", Vllm.DEFAULT_KV_LEASE_DURATION),
                                !extra.hasNonNull("vllm_hma_enabled")
                                        || extra.get("vllm_hma_enabled").asBoolean(true));
                    default ->
                        throw new KvTransferConfigException("kv_connector_extra_config.side_channel " + sideChannel
                                + " is not supported; accepted: jepd, vllm");
                };
        return new KvTransferConfig(
                connector.asText(),
                Role.parse(role.asText()),
                tree.hasNonNull("engine_id") ? tree.get("engine_id").asText() : null,
                port,
                host,
                Duration.ofSeconds(lease),
                Duration.ofSeconds(timeout),
                FailurePolicy.parse(policy),
                Transport.parse(transport),
                backends,
                wholeNumber(extra, "nixl_staging_mib", DEFAULT_NIXL_STAGING_MIB),
                vllm);
    }

    /**
     * {@code vllm_wire_version}: a prefill node names one (default 2); a decode node defaults to auto (null).
     */
    private static VllmWireVersion wireVersion(JsonNode extra, Role role) {
        JsonNode w = extra.get("vllm_wire_version");
        boolean producer = role != Role.KV_CONSUMER;
        if (w == null || w.isNull()) {
            return producer ? VllmWireVersion.V2 : null;
        }
        VllmWireVersion v;
        try {
            v = VllmWireVersion.parseSetting(w.asText());
        } catch (IllegalArgumentException e) {
            throw new KvTransferConfigException(e.getMessage());
        }
        if (v == null && producer) {
            throw new KvTransferConfigException("kv_connector_extra_config.vllm_wire_version auto is for a decode"
                    + " node (kv_consumer); a prefill node answers kv_transfer_params before any decode node asks,"
                    + " so it names its version: 2 (vLLM's nixl_connector.py) or 12 (vLLM's nixl/ package)");
        }
        return v;
    }

    public boolean isProducer() {
        return role == Role.KV_PRODUCER || role == Role.KV_BOTH;
    }

    public boolean isConsumer() {
        return role == Role.KV_CONSUMER || role == Role.KV_BOTH;
    }

    /** Whether this node should try NIXL at all: {@code auto} with NixlConnector, or {@code nixl}. */
    public boolean wantsNixl() {
        return transport == Transport.NIXL || (transport == Transport.AUTO && "NixlConnector".equals(connector));
    }

    private static int envPort() {
        String env = System.getenv("VLLM_NIXL_SIDE_CHANNEL_PORT");
        if (env == null || env.isBlank()) {
            return DEFAULT_SIDE_CHANNEL_PORT;
        }
        try {
            return Integer.parseInt(env.trim());
        } catch (NumberFormatException e) {
            throw new KvTransferConfigException("VLLM_NIXL_SIDE_CHANNEL_PORT is not a port number: " + env);
        }
    }

    private static int wholeNumber(JsonNode extra, String field, int fallback) {
        JsonNode v = extra.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.canConvertToInt() || (v.isFloatingPointNumber() && v.asDouble() != Math.rint(v.asDouble()))) {
            throw new KvTransferConfigException(
                    "kv_connector_extra_config." + field + " must be a whole number, got " + v);
        }
        return v.asInt();
    }
}
