package dev.jepd.engine.connector;

/**
 * The shape of a paged KV cache as the transfer sees it: both ends must agree on it, or the rows mean nothing.
 *
 * @param layers decoder layers, each with one K and one V tensor
 * @param kvHeads key/value heads per token
 * @param headDim elements per head
 * @param blockSize tokens per block
 */
public record KvLayout(int layers, int kvHeads, int headDim, int blockSize) {
    public KvLayout {
        if (layers < 1 || kvHeads < 1 || headDim < 1 || blockSize < 1) {
            throw new IllegalArgumentException("KV layout dimensions must be positive: " + this);
        }
    }

    /** Floats of one token in one layer's K (or V): {@code kvHeads × headDim}. */
    public int rowFloats() {
        return kvHeads * headDim;
    }

    /** Floats of {@code blocks} whole blocks in one layer's K (or V). */
    public long blockFloats(int blocks) {
        return (long) blocks * blockSize * rowFloats();
    }
}
