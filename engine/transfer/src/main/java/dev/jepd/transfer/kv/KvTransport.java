package dev.jepd.transfer.kv;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;

/**
 * The decode side of the transport SPI: pulls a prompt's blocks from the prefill node named in
 * {@code kv_transfer_params} and confirms, so the prefill node can free them. Implementations bound every
 * wait; nothing here may hang.
 */
public interface KvTransport {
    /** Reads the blocks named in {@code remote}; {@code expected} is the decode node's own layout. */
    KvBlocks pull(KvTransferParams remote, int promptTokens, KvLayout expected);

    /** Tells the prefill node it may free the blocks. */
    void confirm(KvTransferParams remote);
}
