package dev.jepd.transfer.vllm;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;

/**
 * vLLM's NIXL compatibility hash ({@code compute_nixl_compatibility_hash} at connector version 2): SHA-256 hex of
 * {@code json.dumps(factors, sort_keys=True)} over the vLLM version, the connector version, the model string, the
 * model dtype ({@code str(torch.dtype)}, e.g. {@code torch.bfloat16}), the total KV heads, the head size, the
 * layer count, the attention backend's name and the cache dtype. A vLLM decode worker refuses a handshake whose
 * hash differs from its own unless it runs with {@code kv_connector_extra_config.enforce_handshake_compat: false}.
 *
 * @param vllmVersion the paired vLLM's {@code vllm.__version__}
 * @param model the model string both nodes were started with
 * @param dtype {@code str(model_config.dtype)}, e.g. {@code torch.bfloat16}
 * @param attnBackendName the decode node's attention backend, e.g. {@code FLASH_ATTN}
 * @param cacheDtype {@code --kv-cache-dtype}, {@code auto} by default
 */
public record VllmCompatHash(
        String vllmVersion,
        String model,
        String dtype,
        int numKvHeads,
        int headSize,
        int numHiddenLayers,
        String attnBackendName,
        String cacheDtype) {

    /** The factors as vLLM puts them in its dict. */
    public Map<String, Object> factors() {
        Map<String, Object> f = new TreeMap<>();
        f.put("vllm_version", vllmVersion);
        f.put("nixl_connector_version", VllmNixlWire.NIXL_CONNECTOR_VERSION);
        f.put("model", model);
        f.put("dtype", dtype);
        f.put("num_kv_heads", numKvHeads);
        f.put("head_size", headSize);
        f.put("num_hidden_layers", numHiddenLayers);
        f.put("attn_backend_name", attnBackendName);
        f.put("cache_dtype", cacheDtype);
        return f;
    }

    public String hex() {
        return sha256Hex(pythonJson(factors()));
    }

    /**
     * The factors at {@code version}. Version 12 ({@code compute_nixl_compatibility_hash} in nixl/metadata.py at
     * 02cfb534) adds {@code is_hma_enabled} (vLLM's hybrid KV-cache manager is on unless
     * {@code --disable-hybrid-kv-cache-manager}), {@code speculative_config} ({@code null}: JEPD has no EAGLE/MTP
     * drafter) and {@code transfer_mode} ({@code pull}: the decode node reads).
     */
    public Map<String, Object> factors(VllmWireVersion version, boolean hmaEnabled) {
        Map<String, Object> f = factors();
        f.put("nixl_connector_version", version.connectorVersion());
        if (version == VllmWireVersion.V12) {
            f.put("is_hma_enabled", hmaEnabled);
            f.put("speculative_config", null);
            f.put("transfer_mode", "pull");
        }
        return f;
    }

    public String hex(VllmWireVersion version, boolean hmaEnabled) {
        return sha256Hex(pythonJson(factors(version, hmaEnabled)));
    }

    /**
     * {@code json.dumps(m, sort_keys=True)} for a flat map of strings, ints, booleans and nulls: Python's separators
     * and escapes.
     */
    static String pythonJson(Map<String, Object> m) {
        StringBuilder sb = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<String, Object> e : new TreeMap<>(m).entrySet()) {
            if (!first) {
                sb.append(", ");
            }
            first = false;
            quote(sb, e.getKey());
            sb.append(": ");
            switch (e.getValue()) {
                case String s -> quote(sb, s);
                case Integer i -> sb.append(i);
                case Long l -> sb.append(l);
                case Boolean b -> sb.append(b ? "true" : "false");
                case null -> sb.append("null");
                default -> throw new IllegalArgumentException("factor " + e.getKey() + " is a " + e.getValue());
            }
        }
        return sb.append('}').toString();
    }

    /** Python's {@code ensure_ascii} string: short escapes for the usual five, {@code \\uXXXX} for the rest. */
    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || c >= 0x80) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    static String sha256Hex(String s) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
