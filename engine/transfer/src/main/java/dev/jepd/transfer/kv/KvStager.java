package dev.jepd.transfer.kv;

import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.transfer.channel.ChannelStatus;

/**
 * The prefill side of a NIXL pull: copies a held request's blocks where the decode node can read them with NIXL
 * and says where. Implemented by the NIXL transport; a side channel without one answers STAGE with
 * {@link ChannelStatus#NOT_SUPPORTED}.
 */
public interface KvStager {
    /**
     * @throws KvTransferException when the blocks are not held for {@code requestId} (see
     *     {@link KvBlockSource#read}) or there is no room to stage them
     */
    KvWire.Staged stage(String requestId, int[] blockIds, int promptTokens);

    /**
     * The direct handshake: checks that the blocks are held and answers where the cache itself is registered,
     * copying nothing.
     *
     * @throws KvWire.RemoteError with {@link ChannelStatus#NOT_SUPPORTED} when the cache is not registered
     * @throws KvTransferException when the blocks are not held for {@code requestId}
     */
    default KvWire.Direct stageDirect(String requestId, int[] blockIds, int promptTokens) {
        throw new KvWire.RemoteError(ChannelStatus.NOT_SUPPORTED, "this prefill node's KV cache is not registered");
    }
}
