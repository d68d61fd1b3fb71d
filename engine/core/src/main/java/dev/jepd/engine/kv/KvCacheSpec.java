package dev.jepd.engine.kv;

/**
 * The shape of a paged KV cache: per block, K and V for every layer, {@code numKvHeads × headDim} elements
 * per token, {@code blockSize} tokens.
 *
 * @param bytesPerElement 2 for bf16/f16, 4 for f32
 */
public record KvCacheSpec(
        int numLayers, int numKvHeads, int headDim, int blockSize, int numBlocks, int bytesPerElement) {
    public KvCacheSpec {
        requirePositive("numLayers", numLayers);
        requirePositive("numKvHeads", numKvHeads);
        requirePositive("headDim", headDim);
        requirePositive("blockSize", blockSize);
        requirePositive("numBlocks", numBlocks);
        requirePositive("bytesPerElement", bytesPerElement);
    }

    /**
     * As many blocks as fit in {@code budgetBytes}.
     *
     * @throws IllegalArgumentException when the budget does not hold a single block
     */
    public static KvCacheSpec forBudget(
            int numLayers, int numKvHeads, int headDim, int blockSize, int bytesPerElement, long budgetBytes) {
        long perBlock = bytesPerBlock(numLayers, numKvHeads, headDim, blockSize, bytesPerElement);
        long blocks = budgetBytes / perBlock;
        if (blocks < 1) {
            throw new IllegalArgumentException("KV cache budget of " + budgetBytes
                    + " bytes is smaller than one block ("
                    + perBlock + " bytes: " + numLayers + " layers × 2 × " + numKvHeads + " KV heads × " + headDim
                    + " × " + blockSize + " tokens × " + bytesPerElement + " bytes)");
        }
        return new KvCacheSpec(
                numLayers, numKvHeads, headDim, blockSize, (int) Math.min(blocks, Integer.MAX_VALUE), bytesPerElement);
    }

    private static long bytesPerBlock(int numLayers, int numKvHeads, int headDim, int blockSize, int bytesPerElement) {
        return 2L * numLayers * numKvHeads * headDim * blockSize * bytesPerElement;
    }

    /** K and V of one token across all layers. */
    public long bytesPerToken() {
        return 2L * numLayers * numKvHeads * headDim * bytesPerElement;
    }

    /** K and V of one block across all layers. */
    public long bytesPerBlock() {
        return bytesPerBlock(numLayers, numKvHeads, headDim, blockSize, bytesPerElement);
    }

    /** The whole cache. */
    public long bytes() {
        return bytesPerBlock() * numBlocks;
    }

    /** Tokens the whole cache can hold. */
    public long tokenCapacity() {
        return (long) numBlocks * blockSize;
    }

    public BlockPool newPool() {
        return new BlockPool(numBlocks, blockSize);
    }

    private static void requirePositive(String name, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(name + " must be at least 1, got " + value);
        }
    }
}
