package dev.jepd.engine.kv;

import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;

/**
 * The tensors behind the paged KV cache: per layer one key and one value tensor of
 * {@code [numBlocks * blockSize, kvHeads, headDim]}. A slot is {@code block * blockSize + offset}; which
 * slots a sequence owns is the block table's business, not this class's.
 */
public final class PagedKvStore implements AutoCloseable {
    private final Scope scope;
    private final Tensor[] keys;
    private final Tensor[] values;
    private final int numSlots;
    private final int blockSize;

    public PagedKvStore(TensorBackend backend, int layers, int kvHeads, int headDim, int numBlocks, int blockSize) {
        this.blockSize = blockSize;
        this.numSlots = Math.multiplyExact(numBlocks, blockSize);
        // Its own root scope: the cache lives as long as the engine that owns it, across steps.
        this.scope = backend.open();
        try {
            Ops ops = backend.ops(scope);
            keys = new Tensor[layers];
            values = new Tensor[layers];
            for (int l = 0; l < layers; l++) {
                keys[l] = ops.zeros(numSlots, kvHeads, headDim);
                values[l] = ops.zeros(numSlots, kvHeads, headDim);
            }
        } catch (RuntimeException e) {
            scope.close();
            throw e;
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
