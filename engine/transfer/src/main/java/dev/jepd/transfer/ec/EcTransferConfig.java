package dev.jepd.transfer.ec;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.stream.Stream;

/**
 * The {@code --ec-transfer-config} JSON, field for field as vLLM's {@code ECTransferConfig} names it, so that one
 * command line serves both. vLLM fields that only its other connectors use are accepted and ignored; anything else is
 * refused so that a typo does not silently disable the EC store.
 *
 * @param connector {@code ec_connector}: one of {@link #ACCEPTED_CONNECTORS}: the shared-directory layout of vLLM's
 *     {@code ECExampleConnector}, or one of {@link #NIXL_CONNECTORS}, which stage each item on the PD node through
 *     NIXL as vllm-rbln's {@code RblnECNixlConnector} does
 * @param role {@code ec_role}
 * @param extraConfig {@code ec_connector_extra_config}: for shared storage {@code shared_storage_path} (required)
 *     and JEPD's optional {@code capacity_bytes}; for NIXL {@code pull_host}/{@code pull_port} (the PD node binds
 *     them) or {@code llm_host}/{@code llm_pull_port} (each encoder connects there), and JEPD's optional
 *     {@code nixl_buffer_mib} and {@code capacity_bytes} (the PD node's cache of pulled items)
 * @param engineId {@code engine_id}, for logs only; may be null
 */
@JsonIgnoreProperties(ignoreUnknown = true) // parse() refuses unknown fields itself, with a better message
public record EcTransferConfig(
        @JsonProperty("ec_connector") String connector,
        @JsonProperty("ec_role") Role role,
        @JsonProperty("ec_connector_extra_config") Map<String, Object> extraConfig,
        @JsonProperty("engine_id") String engineId) {

    /**
     * vLLM's current name, its name before the rename (vLLM's {@code ECSharedStorageConnector}) and JEPD's own; all
     * three read and write the same files.
     */
    public static final List<String> SHARED_STORAGE_CONNECTORS =
            List.of("ECExampleConnector", "ECSharedStorageConnector", "JepdSharedStorageConnector");

    /**
     * vllm-rbln's name and JEPD's own: the encoder exports each item from memory registered with NIXL and offers it
     * to the PD node over a side channel (the PD's {@code pull_port}); the PD node reads it with one NIXL READ.
     */
    public static final List<String> NIXL_CONNECTORS = List.of("RblnECNixlConnector", "JepdNixlECConnector");

    /**
     * vLLM's own NIXL-based EC connector, in its P2P mode ({@code "ec_enable_nixl": true}): the encoder keeps each
     * item in a NIXL-registered CPU region and answers where it is; the PD node asks for it over ZMQ and reads it
     * with one NIXL READ ({@code transfer.vllm.VllmEcCpuConnector}).
     */
    public static final String VLLM_CPU_CONNECTOR = "ECCPUConnector";

    public static final List<String> ACCEPTED_CONNECTORS = java.util.stream.Stream.of(
                    SHARED_STORAGE_CONNECTORS.stream(), NIXL_CONNECTORS.stream(), Stream.of(VLLM_CPU_CONNECTOR))
            .flatMap(x -> x)
            .toList();

    public static final String SHARED_STORAGE_PATH = "shared_storage_path";
    public static final String CAPACITY_BYTES = "capacity_bytes";
    public static final String PULL_HOST = "pull_host";
    public static final String PULL_PORT = "pull_port";
    public static final String LLM_HOST = "llm_host";
    public static final String LLM_PULL_PORT = "llm_pull_port";
    public static final String NIXL_BUFFER_MIB = "nixl_buffer_mib";
    public static final String EC_ENABLE_NIXL = "ec_enable_nixl";
    public static final String EC_CPU_BYTES = "ec_cpu_bytes";
    public static final String CONSUMER_ACK_TIMEOUT_S = "consumer_ack_timeout_s";
    /** JEPD's: which generation of ECCPUConnector's wire (1 or 2) the peer speaks; default 2. */
    public static final String VLLM_EC_WIRE_VERSION = "vllm_ec_wire_version";
    /** JEPD's: the paired vLLM's version string, a factor of the compatibility hash. */
    public static final String VLLM_VERSION = "vllm_version";
    /** JEPD's: the compatibility hash itself, when the factors cannot be reproduced. */
    public static final String VLLM_COMPAT_HASH = "vllm_compat_hash";
    /** JEPD's: the producer's ZMQ side channel, instead of VLLM_EC_SIDE_CHANNEL_HOST / _PORT. */
    public static final String SIDE_CHANNEL_HOST = "side_channel_host";

    public static final String SIDE_CHANNEL_PORT = "side_channel_port";

    private static final List<String> KNOWN_FIELDS =
            List.of("ec_connector", "ec_role", "ec_connector_extra_config", "engine_id");
    /** The rest of vLLM's ECTransferConfig: only its other connectors use them. */
    private static final List<String> IGNORED_VLLM_FIELDS = List.of(
            "ec_buffer_device",
            "ec_buffer_size",
            "ec_rank",
            "ec_parallel_size",
            "ec_ip",
            "ec_port",
            "ec_connector_module_path");

    private static final ObjectMapper JSON = new ObjectMapper();

    public enum Role {
        EC_PRODUCER("ec_producer"),
        EC_CONSUMER("ec_consumer"),
        EC_BOTH("ec_both");

        private final String jsonName;

        Role(String jsonName) {
            this.jsonName = jsonName;
        }

        public String jsonName() {
            return jsonName;
        }

        @JsonCreator
        public static Role parse(String name) {
            for (Role r : values()) {
                if (r.jsonName.equals(name)) {
                    return r;
                }
            }
            throw new EcConfigException(
                    "ec_role " + name + " is not supported; accepted: ec_producer, ec_consumer, ec_both");
        }
    }

    public EcTransferConfig {
        if (connector == null) {
            throw new EcConfigException(
                    "ec_connector is required; accepted: " + String.join(", ", ACCEPTED_CONNECTORS));
        }
        if (!ACCEPTED_CONNECTORS.contains(connector)) {
            throw new EcConfigException("ec_connector " + connector + " is not supported; accepted: "
                    + String.join(", ", ACCEPTED_CONNECTORS));
        }
        if (role == null) {
            // vLLM refuses a connector without a role too.
            throw new EcConfigException(
                    "ec_role is required when ec_connector is set; accepted: ec_producer, ec_consumer, ec_both");
        }
        // Not Map.copyOf: JSON allows null values in the extra config.
        extraConfig = extraConfig == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(extraConfig));
        // Validate the derived values now, so a bad config fails at start-up and not on the first image.
        if (VLLM_CPU_CONNECTOR.equals(connector)) {
            if (!truthy(extraConfig.get(EC_ENABLE_NIXL))) {
                throw new EcConfigException("ec_connector ECCPUConnector is supported in its P2P NIXL mode only: set"
                        + " ec_connector_extra_config.ec_enable_nixl to true (without it vLLM's connector offloads the"
                        + " encoder cache to host memory inside one instance, which moves nothing between nodes)");
            }
            ecCpuBytesOf(extraConfig);
            ackTimeoutOf(extraConfig);
            wireVersionOf(extraConfig);
            if (extraConfig.containsKey(SIDE_CHANNEL_PORT)) {
                sideChannelPortOf(extraConfig);
            }
        } else if (NIXL_CONNECTORS.contains(connector)) {
            if (role != Role.EC_PRODUCER) {
                port(extraConfig, PULL_PORT);
            }
            if (role != Role.EC_CONSUMER) {
                port(extraConfig, LLM_PULL_PORT);
            }
            positive(extraConfig, NIXL_BUFFER_MIB);
        } else {
            requireStoragePath(extraConfig);
        }
        capacityOf(extraConfig);
    }

    /** Whether this is vLLM's {@code ECCPUConnector} in its P2P NIXL mode. */
    public boolean isVllmCpu() {
        return VLLM_CPU_CONNECTOR.equals(connector);
    }

    /** ECCPUConnector: {@code ec_cpu_bytes}, the producer's region (and the consumer's cache of pulled items). */
    public long ecCpuBytes() {
        return ecCpuBytesOf(extraConfig);
    }

    /**
     * ECCPUConnector: how long a consumer waits for the producer's answer ({@code consumer_ack_timeout_s}; vLLM's
     * default is 2 s on wire 1 and 30 s on wire 2).
     */
    public java.time.Duration consumerAckTimeout() {
        double s = ackTimeoutOf(extraConfig);
        if (Double.isNaN(s)) {
            s = wireVersionOf(extraConfig) == 1 ? 2.0 : 30.0;
        }
        return java.time.Duration.ofNanos((long) (s * 1e9));
    }

    /** ECCPUConnector: the wire generation, {@code vllm_ec_wire_version} (1 or 2; default 2). */
    public int vllmEcWireVersion() {
        return wireVersionOf(extraConfig);
    }

    /** ECCPUConnector: {@code vllm_version}, or null. */
    public String vllmVersion() {
        return extraConfig.containsKey(VLLM_VERSION) ? text(extraConfig, VLLM_VERSION, null) : null;
    }

    /** ECCPUConnector: {@code vllm_compat_hash}, or null. */
    public String vllmCompatHash() {
        return extraConfig.containsKey(VLLM_COMPAT_HASH) ? text(extraConfig, VLLM_COMPAT_HASH, null) : null;
    }

    /**
     * ECCPUConnector, producer: the host its ZMQ side channel binds and advertises: {@code side_channel_host}, else
     * {@code VLLM_EC_SIDE_CHANNEL_HOST}, else {@code localhost} (vLLM's default).
     */
    public String sideChannelHost() {
        String env = System.getenv("VLLM_EC_SIDE_CHANNEL_HOST");
        return text(extraConfig, SIDE_CHANNEL_HOST, env == null || env.isBlank() ? "localhost" : env);
    }

    /**
     * ECCPUConnector, producer: its side channel's port: {@code side_channel_port} (0 picks a free one), else
     * {@code VLLM_EC_SIDE_CHANNEL_PORT}, else 5601 (vLLM's default).
     */
    public int sideChannelPort() {
        if (extraConfig.containsKey(SIDE_CHANNEL_PORT)) {
            return sideChannelPortOf(extraConfig);
        }
        String env = System.getenv("VLLM_EC_SIDE_CHANNEL_PORT");
        if (env == null || env.isBlank()) {
            return 5601;
        }
        try {
            int p = Integer.parseInt(env.strip());
            if (p >= 1 && p <= 65535) {
                return p;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new EcConfigException("VLLM_EC_SIDE_CHANNEL_PORT must be a port in 1..65535, got " + env);
    }

    /** vLLM's reading of {@code ec_enable_nixl}: a boolean as is, else the text "true", "1" or "yes". */
    private static boolean truthy(Object v) {
        if (v instanceof Boolean b) {
            return b;
        }
        return v != null
                && List.of("true", "1", "yes").contains(v.toString().strip().toLowerCase(java.util.Locale.ROOT));
    }

    private static long ecCpuBytesOf(Map<String, Object> extra) {
        Object v = extra.get(EC_CPU_BYTES);
        long bytes = -1;
        if (v instanceof Integer || v instanceof Long) {
            bytes = ((Number) v).longValue();
        } else if (v instanceof String s) {
            try {
                bytes = Long.parseLong(s.strip()); // vLLM calls int() on it
            } catch (NumberFormatException e) {
                bytes = -1;
            }
        }
        if (bytes <= 0) {
            throw new EcConfigException("ec_connector_extra_config.ec_cpu_bytes must be specified as a positive number"
                    + " of bytes (the CPU region that holds the encoder cache), got " + v);
        }
        return bytes;
    }

    private static double ackTimeoutOf(Map<String, Object> extra) {
        Object v = extra.get(CONSUMER_ACK_TIMEOUT_S);
        if (v == null) {
            return Double.NaN;
        }
        double s = v instanceof Number n ? n.doubleValue() : Double.NaN;
        if (v instanceof String text) {
            try {
                s = Double.parseDouble(text.strip());
            } catch (NumberFormatException e) {
                s = Double.NaN;
            }
        }
        if (!(s > 0) || s > 3600) {
            throw new EcConfigException(
                    "ec_connector_extra_config.consumer_ack_timeout_s must be seconds in (0, 3600], got " + v);
        }
        return s;
    }

    private static int wireVersionOf(Map<String, Object> extra) {
        Object v = extra.get(VLLM_EC_WIRE_VERSION);
        if (v == null) {
            return 2;
        }
        if (!(v instanceof Integer i) || (i != 1 && i != 2)) {
            throw new EcConfigException("ec_connector_extra_config.vllm_ec_wire_version must be 1 or 2 (vLLM's"
                    + " EC_CONNECTOR_VERSION of the ECCPUConnector you pair with), got " + v);
        }
        return i;
    }

    private static int sideChannelPortOf(Map<String, Object> extra) {
        Object v = extra.get(SIDE_CHANNEL_PORT);
        if (!(v instanceof Integer p) || p < 0 || p > 65535) {
            throw new EcConfigException(
                    "ec_connector_extra_config.side_channel_port must be a port in 0..65535 (0: a free one), got " + v);
        }
        return p;
    }

    /** Whether items travel through NIXL ({@link #NIXL_CONNECTORS}) rather than a shared directory. */
    public boolean isNixl() {
        return NIXL_CONNECTORS.contains(connector);
    }

    /** NIXL, PD side: where the node listens for encoders' offers ({@code pull_host}, default 127.0.0.1). */
    public String pullHost() {
        return text(extraConfig, PULL_HOST, "127.0.0.1");
    }

    /** NIXL, PD side: {@code pull_port}. */
    public int pullPort() {
        return port(extraConfig, PULL_PORT);
    }

    /** NIXL, encoder side: the PD node's offer channel host ({@code llm_host}, default 127.0.0.1). */
    public String llmHost() {
        return text(extraConfig, LLM_HOST, "127.0.0.1");
    }

    /** NIXL, encoder side: {@code llm_pull_port}, the PD node's {@code pull_port}. */
    public int llmPullPort() {
        return port(extraConfig, LLM_PULL_PORT);
    }

    /** NIXL: the registered area items are exported from (encoder) or read into (PD), in bytes; default 256 MiB. */
    public long nixlBufferBytes() {
        Object v = extraConfig.get(NIXL_BUFFER_MIB);
        return (v == null ? 256L : positive(extraConfig, NIXL_BUFFER_MIB)) << 20;
    }

    private static String text(Map<String, Object> extra, String field, String fallback) {
        Object v = extra.get(field);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof String s) || s.isBlank()) {
            throw new EcConfigException("ec_connector_extra_config." + field + " must be a host name, got " + v);
        }
        return s;
    }

    private static int port(Map<String, Object> extra, String field) {
        Object v = extra.get(field);
        if (!(v instanceof Integer p) || p < 1 || p > 65535) {
            throw new EcConfigException("ec_connector_extra_config." + field + " must be a port in 1..65535, got " + v);
        }
        return p;
    }

    private static long positive(Map<String, Object> extra, String field) {
        Object v = extra.get(field);
        if (v == null) {
            return 0;
        }
        if (!(v instanceof Integer || v instanceof Long) || ((Number) v).longValue() <= 0) {
            throw new EcConfigException("ec_connector_extra_config." + field + " must be a positive integer, got " + v);
        }
        return ((Number) v).longValue();
    }

    /** Parses the JSON given to {@code --ec-transfer-config}. */
    public static EcTransferConfig parse(String json) {
        try {
            JsonNode tree = JSON.readTree(json);
            if (tree == null || !tree.isObject()) {
                throw new EcConfigException("--ec-transfer-config must be a JSON object, got " + json);
            }
            // Checked before binding so that a misspelt field is reported as such, not as the field it shadows.
            for (Map.Entry<String, JsonNode> property : tree.properties()) {
                String field = property.getKey();
                if (!KNOWN_FIELDS.contains(field) && !IGNORED_VLLM_FIELDS.contains(field)) {
                    throw new EcConfigException("--ec-transfer-config has an unknown field " + field + "; JEPD accepts "
                            + String.join(", ", KNOWN_FIELDS) + " and ignores vLLM's "
                            + String.join(", ", IGNORED_VLLM_FIELDS));
                }
            }
            return JSON.treeToValue(tree, EcTransferConfig.class);
        } catch (JsonProcessingException e) {
            // Our own validation errors arrive wrapped by Jackson; surface them as they were written.
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof EcConfigException ec) {
                    throw ec;
                }
            }
            throw new EcConfigException("--ec-transfer-config is not valid: " + e.getOriginalMessage(), e);
        }
    }

    public boolean isProducer() {
        return role == Role.EC_PRODUCER || role == Role.EC_BOTH;
    }

    public boolean isConsumer() {
        return role == Role.EC_CONSUMER || role == Role.EC_BOTH;
    }

    /** {@code ec_connector_extra_config.shared_storage_path}; shared-storage connectors only. */
    public Path sharedStoragePath() {
        return requireStoragePath(extraConfig);
    }

    /** JEPD's {@code capacity_bytes}; empty means unlimited, as vLLM (which never deletes) behaves. */
    public OptionalLong capacityBytes() {
        return capacityOf(extraConfig);
    }

    private static Path requireStoragePath(Map<String, Object> extra) {
        // vLLM falls back to /tmp; JEPD refuses, because a node reading another directory than its peers only misses.
        Object p = extra.get(SHARED_STORAGE_PATH);
        if (!(p instanceof String s) || s.isBlank()) {
            throw new EcConfigException("ec_connector_extra_config." + SHARED_STORAGE_PATH
                    + " is required (a directory shared by the encoder and prefill/decode nodes), got " + p);
        }
        try {
            return Path.of(s);
        } catch (RuntimeException e) {
            throw new EcConfigException("ec_connector_extra_config." + SHARED_STORAGE_PATH + " " + s
                    + " is not a valid path: " + e.getMessage());
        }
    }

    private static OptionalLong capacityOf(Map<String, Object> extra) {
        Object c = extra.get(CAPACITY_BYTES);
        if (c == null) {
            return OptionalLong.empty();
        }
        long bytes;
        if (c instanceof Integer || c instanceof Long) {
            bytes = ((Number) c).longValue();
        } else if (c instanceof Number n
                && n.doubleValue() == Math.rint(n.doubleValue())
                && Math.abs(n.doubleValue()) < 0x1p62) {
            bytes = (long) n.doubleValue(); // 1e9 spelled the way vLLM's ec_buffer_size is
        } else {
            throw new EcConfigException(
                    "ec_connector_extra_config." + CAPACITY_BYTES + " must be a whole number of bytes, got " + c);
        }
        if (bytes <= 0) {
            throw new EcConfigException("ec_connector_extra_config." + CAPACITY_BYTES
                    + " must be positive (leave it out for no limit), got " + c);
        }
        return OptionalLong.of(bytes);
    }
}
