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
 */
public record EcTransferParams(
        @JsonProperty("remote_engine_id") @JsonInclude(JsonInclude.Include.NON_NULL)
        String remoteEngineId,

        @JsonProperty("remote_host") @JsonInclude(JsonInclude.Include.NON_NULL)
        String remoteHost,

        @JsonProperty("remote_port") @JsonInclude(JsonInclude.Include.NON_DEFAULT)
        int remotePort) {

    private static final EcTransferParams NONE = new EcTransferParams(null, null, 0);

    public EcTransferParams {
        if (remotePort < 0 || remotePort > 65535) {
            throw new IllegalArgumentException("ec_transfer_params.remote_port " + remotePort + " outside 0..65535");
        }
        if ((remoteHost == null) != (remotePort == 0)) {
            throw new IllegalArgumentException(
                    "ec_transfer_params needs both remote_host and remote_port or neither, got " + remoteHost + ":"
                            + remotePort);
        }
    }

    /** Nothing beyond the key is needed: the entry is in storage every node shares. */
    public static EcTransferParams none() {
        return NONE;
    }

    /** Whether these params name no peer (shared storage). */
    @JsonIgnore
    public boolean isNone() {
        return remoteHost == null && remoteEngineId == null;
    }
}
