package dev.jepd.engine.connector;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Where a consumer finds an encoder output, as the encoder's {@link EcConnector#publish} describes it; the encoder
 * answers it and the proxy passes it verbatim to the prefill/decode node as {@code ec_transfer_params}, which hands
 * it to {@link EcConnector#lookup}. Over shared storage the key alone finds the entry, so the value is
 * {@link #none()} ({@code {}} in JSON). A point-to-point connector (NIXL) would fill in the encoder node's side
 * channel and engine, the way {@code kv_transfer_params} names a prefill node.
 *
 * @param remoteEngineId the encoder's engine id (its side channel refuses another's requests); null for none
 * @param remoteHost host of the encoder's side channel; null for none
 * @param remotePort port of the encoder's side channel; 0 for none
 * @param peerHost vLLM's {@code ECCPUConnector} (P2P NIXL): host of the producer's ZMQ side channel; null for none
 * @param peerPort its port; 0 for none
 * @param sizeBytes the bytes a consumer reads: whole blocks of the producer's region; 0 for none
 * @param shape {@code [rows, width]} of the item (wire 2 of that connector); null for none
 * @param metadata what the producer says of the item's placeholders ({@code image_grid_thw}); consumers ignore it
 */
@com.fasterxml.jackson.annotation.JsonIgnoreProperties(ignoreUnknown = true) // vLLM's proxies may add item_indices
public record EcTransferParams(
        @JsonProperty("remote_engine_id") @JsonInclude(JsonInclude.Include.NON_NULL)
        String remoteEngineId,

        @JsonProperty("remote_host") @JsonInclude(JsonInclude.Include.NON_NULL)
        String remoteHost,

        @JsonProperty("remote_port") @JsonInclude(JsonInclude.Include.NON_DEFAULT)
        int remotePort,

        @JsonProperty("metadata") @JsonInclude(JsonInclude.Include.NON_NULL)
        java.util.Map<String, Object> metadata,

        @JsonProperty("peer_host") @JsonInclude(JsonInclude.Include.NON_NULL)
        String peerHost,

        @JsonProperty("peer_port") @JsonInclude(JsonInclude.Include.NON_DEFAULT)
        int peerPort,

        @JsonProperty("size_bytes") @JsonInclude(JsonInclude.Include.NON_DEFAULT)
        long sizeBytes,

        @JsonProperty("shape") @JsonInclude(JsonInclude.Include.NON_NULL)
        java.util.List<Long> shape) {

    private static final EcTransferParams NONE = new EcTransferParams(null, null, 0);

    /** A JEPD side channel's peer ({@code remote_*}). */
    public EcTransferParams(String remoteEngineId, String remoteHost, int remotePort) {
        this(remoteEngineId, remoteHost, remotePort, null, null, 0, 0, null);
    }

    /**
     * vLLM's {@code ECCPUConnector} announcement: the producer's side channel, the bytes to read and (wire 2) the
     * item's {@code [rows, width]}.
     */
    public static EcTransferParams vllmCpu(
            String peerHost,
            int peerPort,
            long sizeBytes,
            java.util.List<Long> shape,
            java.util.Map<String, Object> md) {
        return new EcTransferParams(
                null, null, 0, md == null ? java.util.Map.of() : md, peerHost, peerPort, sizeBytes, shape);
    }

    public EcTransferParams {
        if (remotePort < 0 || remotePort > 65535) {
            throw new IllegalArgumentException("ec_transfer_params.remote_port " + remotePort + " outside 0..65535");
        }
        if ((remoteHost == null) != (remotePort == 0)) {
            throw new IllegalArgumentException(
                    "ec_transfer_params needs both remote_host and remote_port or neither, got " + remoteHost + ":"
                            + remotePort);
        }
        if (peerPort < 0 || peerPort > 65535 || (peerHost != null && peerPort == 0)) {
            throw new IllegalArgumentException(
                    "ec_transfer_params.peer_port " + peerPort + " outside 1..65535 (peer_host " + peerHost + ")");
        }
        if (sizeBytes < 0) {
            throw new IllegalArgumentException("ec_transfer_params.size_bytes " + sizeBytes + " is negative");
        }
        if (shape != null && (shape.size() != 2 || shape.stream().anyMatch(d -> d == null || d <= 0))) {
            throw new IllegalArgumentException("ec_transfer_params.shape " + shape + " is not [rows, width]");
        }
        metadata = metadata == null
                ? null
                : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(metadata));
        shape = shape == null ? null : java.util.List.copyOf(shape);
    }

    /** Whether a vLLM {@code ECCPUConnector} producer announced the item ({@code peer_host} present). */
    @JsonIgnore
    public boolean isVllmCpu() {
        return peerHost != null;
    }

    /** Nothing beyond the key is needed: the entry is in storage every node shares. */
    public static EcTransferParams none() {
        return NONE;
    }

    /** Whether these params name no peer (shared storage). */
    @JsonIgnore
    public boolean isNone() {
        return remoteHost == null && remoteEngineId == null && peerHost == null;
    }
}
