package dev.jepd.engine.kv;

import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.TensorScope;

/**
 * The tensors behind the paged KV cache: per layer one key and one value tensor of
 * {@code [numBlocks * blockSize, kvHeads, headDim]}. A slot is {@code block * blockSize + offset}; which
 * slots a sequence owns is the block table's business, not this class's.
 */
public final class PagedKvStore implements AutoCloseable {
    private final TensorScope scope;
    private final Tensor[] keys;
    private final Tensor[] values;
    private final int numSlots;
    private final int blockSize;

    public PagedKvStore(TensorBackend ops, int layers, int kvHeads, int headDim, int numBlocks, int blockSize) {
        this.blockSize = blockSize;
        this.numSlots = Math.multiplyExact(numBlocks, blockSize);
        // Its own scope, detached: the cache lives as long as the engine that owns it, across steps.
        this.scope = ops.scope();
        try {
            keys = new Tensor[layers];
            values = new Tensor[layers];
            for (int l = 0; l < layers; l++) {
                keys[l] = ops.zeros(numSlots, kvHeads, headDim);
                values[l] = ops.zeros(numSlots, kvHeads, headDim);
            }
        } finally {
            scope.detach();
        }
    }

    public Tensor keys(int layer) {
        return keys[layer];
    }

    public Tensor values(int layer) {
        return values[layer];
    }

    public int numSlots() {
        return numSlots;
    }

    public int blockSize() {
        return blockSize;
    }

    @Override
    public void close() {
        scope.close();
    }
}
