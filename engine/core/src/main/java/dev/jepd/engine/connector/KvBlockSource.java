package dev.jepd.engine.connector;

/**
 * The prefill side of the transport SPI: what a transport server reads held blocks from. The engine implements
 * it; its methods must not race the engine thread's writes to the cache.
 */
public interface KvBlockSource {
    KvLayout layout();

    /**
     * Copies the K and V rows of {@code blockIds} out of the cache; they must be blocks held for
     * {@code requestId} whose prompt had {@code promptTokens} tokens.
     *
     * @throws KvTransferException when no such lease is held (unknown, expired or already confirmed) or the ids
     *     or token count do not match it
     */
    KvBlocks read(String requestId, int[] blockIds, int promptTokens);

    /** The decode node has its copy: frees the held blocks. Returns false when nothing was held under that id. */
    boolean release(String requestId);
}
