package dev.jepd.transfer.kv;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvRegions;

/**
 * The decode side of the transport SPI: pulls a prompt's blocks from the prefill node named in
 * {@code kv_transfer_params} and confirms, so the prefill node can free them. Implementations bound every
 * wait; nothing here may hang.
 */
public interface KvTransport {
    /** Reads the blocks named in {@code remote}; {@code expected} is the decode node's own layout. */
    KvBlocks pull(KvTransferParams remote, int promptTokens, KvLayout expected);

    /**
     * As {@link #pull}, writing block {@code i} of the prompt straight into block {@code blockIds[i]} of the
     * decode node's cache ({@code local}) where the transport can, then returning null; otherwise returns the
     * blocks as {@link #pull} does (the default).
     */
    /** Whether {@link #pullInto} can write in place at all (false: it always returns the blocks). */
    default boolean pullsInPlace() {
        return false;
    }

    default KvBlocks pullInto(
            KvTransferParams remote, int promptTokens, KvLayout expected, KvRegions local, int[] blockIds) {
        return pull(remote, promptTokens, expected);
    }

    /** Tells the prefill node it may free the blocks. */
    void confirm(KvTransferParams remote);
}
