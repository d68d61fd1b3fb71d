package dev.jepd.engine.kv;

import dev.jepd.engine.connector.KvRegions;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.lang.foreign.MemorySegment;
import java.util.Optional;

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
    private final int kvHeads;
    private final int headDim;
    private final TensorBackend backend;

    public PagedKvStore(TensorBackend backend, int layers, int kvHeads, int headDim, int numBlocks, int blockSize) {
        this.blockSize = blockSize;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.backend = backend;
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

    /**
     * The cache's own memory, when the backend keeps every K and V tensor in memory a transport may register
     * ({@link TensorBackend#registrable}): block {@code b} of a layer's K is bytes
     * {@code [b × blockBytes, (b + 1) × blockBytes)} of that layer's K region. Empty when any tensor has none.
     */
    public Optional<KvRegions> regions() {
        int layers = keys.length;
        MemorySegment[] k = new MemorySegment[layers];
        MemorySegment[] v = new MemorySegment[layers];
        for (int l = 0; l < layers; l++) {
            Optional<MemorySegment> kl = backend.registrable(keys[l]);
            Optional<MemorySegment> vl = backend.registrable(values[l]);
            // Heap memory has no stable address a transport could register.
            if (kl.isEmpty()
                    || vl.isEmpty()
                    || !kl.get().isNative()
                    || !vl.get().isNative()) {
                return Optional.empty();
            }
            k[l] = kl.get();
            v[l] = vl.get();
        }
        long blockBytes = (long) blockSize * kvHeads * headDim * keys[0].dtype().byteSize();
        return Optional.of(new KvRegions(keys[0].dtype(), blockBytes, k, v));
    }

    @Override
    public void close() {
        scope.close();
    }
}
