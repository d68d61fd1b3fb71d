package dev.jepd.engine.connector;

import java.util.Optional;

/**
 * Moves encoder outputs between an encoder node (producer) and prefill/decode nodes (consumers), keyed by
 * {@code EcKeys}. The shared-directory store is {@code transfer.ec.SharedStorageEcConnector}; a point-to-point
 * transport (NIXL) would implement the same interface, describing where an entry is with {@link EcTransferParams}
 * ({@link #publish}, {@link #lookup}). Implementations are thread-safe.
 *
 * <p>A consumer treats every failure to get a usable entry as a miss and recomputes the embedding locally, so
 * {@link #load} never throws for bad stored data; {@link #save} throws, because the encoder must not answer 200 for
 * an item it could not store (the proxy relies on that ordering).
 */
public interface EcConnector {
    /** Whether an entry for {@code key} is present now; cheap, used by the encoder to skip recomputation. */
    boolean contains(String key);

    /**
     * The entry for {@code key} if it is present and has exactly the expected shape; empty on any miss (absent,
     * damaged, foreign dtype, other shape), which is counted.
     */
    Optional<EcEntry> load(String key, int expectedTokens, int expectedDim);

    /**
     * Stores {@code rows} (row-major {@code [numTokens, dim]}) under {@code key}; once this returns, a concurrent
     * {@link #load} on any node sharing the store sees either the whole entry or nothing.
     *
     * @throws EcStoreException when the entry could not be written
     */
    void save(String key, float[] rows, int numTokens, int dim);

    /**
     * As {@link #load}, for an entry the encoder described with {@code params} (what its {@link #publish}
     * returned, passed on verbatim as {@code ec_transfer_params}). A connector that moves entries point to point
     * reads them from the peer named there; shared storage needs only the key.
     */
    default Optional<EcEntry> lookup(String key, EcTransferParams params, int expectedTokens, int expectedDim) {
        return load(key, expectedTokens, expectedDim);
    }

    /**
     * As {@link #save}, and returns what a consumer needs besides the key to find the entry (the encoder's
     * answer carries it as {@code ec_transfer_params}).
     *
     * @throws EcStoreException when the entry could not be written
     */
    default EcTransferParams publish(String key, float[] rows, int numTokens, int dim) {
        save(key, rows, numTokens, dim);
        return EcTransferParams.none();
    }

    /**
     * On an encoder: what a consumer needs to find an entry this node already holds for {@code key} (so a repeat
     * is not encoded again), or empty when it must be encoded. The default answers {@link #contains}: shared
     * storage needs nothing beyond the key.
     */
    default Optional<EcTransferParams> held(String key) {
        return contains(key) ? Optional.of(EcTransferParams.none()) : Optional.empty();
    }

    long hits();

    long misses();

    long saves();

    long evictions();

    /** Bytes of the entries this connector currently accounts for (the figure its capacity cap applies to). */
    long bytesStored();
}
