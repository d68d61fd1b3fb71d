package dev.jepd.engine.connector;

import java.util.Optional;

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

    /**
     * Checks, without copying anything, that {@code blockIds} are held for {@code requestId} as {@link #read}
     * checks: what a transport that reads the blocks in place ({@link #regions}) asks first.
     *
     * @throws KvTransferException as {@link #read} does
     */
    default void checkHeld(String requestId, int[] blockIds, int promptTokens) {
        read(requestId, blockIds, promptTokens);
    }

    /**
     * The cache's own memory, when a transport may register it and read held blocks in place; empty when the
     * blocks can only be copied out with {@link #read}.
     */
    default Optional<KvRegions> regions() {
        return Optional.empty();
    }

    /** The decode node has its copy: frees the held blocks. Returns false when nothing was held under that id. */
    boolean release(String requestId);
}
