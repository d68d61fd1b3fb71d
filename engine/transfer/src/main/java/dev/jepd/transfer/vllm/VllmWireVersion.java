package dev.jepd.transfer.vllm;

import java.util.Locale;

/**
 * Which vLLM NixlConnector wire a node speaks ({@code kv_connector_extra_config.vllm_wire_version}), named by vLLM's
 * {@code NIXL_CONNECTOR_VERSION}, which is also a factor of the compatibility hash, so both ends must agree.
 *
 * <ul>
 *   <li>{@link #V2}: the single-file {@code nixl_connector.py} at 002a1057: {@code (b"get_meta_msg", tp_rank)}
 *       answered by one frame, flat {@code remote_block_ids}, a fixed lease ({@code VLLM_NIXL_ABORT_REQUEST_TIMEOUT}).
 *   <li>{@link #V12}: the {@code nixl/} package (metadata.py at 02cfb534, base_scheduler.py and pull_scheduler.py at
 *       0050936b, base_worker.py at 00bd5131): {@code (b"get_meta_msg", pp_rank, tp_rank)} answered by the payload
 *       and the prefill process's {@code perf_counter}, {@code remote_block_ids} as one list per KV-cache group,
 *       {@code remote_num_tokens}, a short lease ({@code kv_lease_duration}, 30 s) that the decode node's
 *       {@code "HB:<id>,<id>"} notifications renew. The versions between (3 to 11) were not followed.
 * </ul>
 */
public enum VllmWireVersion {
    V2(2),
    V12(12);

    private final int connectorVersion;

    VllmWireVersion(int connectorVersion) {
        this.connectorVersion = connectorVersion;
    }

    /** vLLM's {@code NIXL_CONNECTOR_VERSION} of this wire. */
    public int connectorVersion() {
        return connectorVersion;
    }

    /** The newest wire JEPD speaks. */
    public static VllmWireVersion newest() {
        return V12;
    }

    /**
     * {@code 2} or {@code 12}; null for {@code auto} (a decode node then follows the shape of each request's
     * {@code kv_transfer_params}).
     */
    public static VllmWireVersion parseSetting(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "2" -> V2;
            case "12" -> V12;
            case "auto" -> null;
            default ->
                throw new IllegalArgumentException("kv_connector_extra_config.vllm_wire_version is " + value
                        + "; JEPD speaks vLLM's NixlConnector versions 2 (nixl_connector.py) and 12 (the nixl/ package),"
                        + " or auto");
        };
    }
}
