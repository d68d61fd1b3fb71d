package dev.jepd.engine.kv;

import java.util.Arrays;

/**
 * A fixed set of KV cache blocks with reference counts, like vLLM's {@code BlockPool}.
 *
 * <p>The free list is FIFO: blocks are taken from the front and returned to the back, so a freed block is
 * reused as late as possible (the order vLLM's free queue keeps, which a later prefix cache can turn into
 * LRU eviction). Every operation is all-or-nothing: it validates all ids before it changes any state.
 *
 * <p>Thread-safe: every method is {@code synchronized}. The scheduler is the only writer in practice, but the
 * KV transfer side and the metrics reader call in from other threads.
 */
public final class BlockPool {
    private final int numBlocks;
    private final int blockSize;
    private final int[] refCounts;
    // The free list as a ring buffer of ids: it never holds more than numBlocks entries.
    private final int[] freeRing;
    private int freeHead;
    private int freeCount;

    public BlockPool(int numBlocks, int blockSize) {
        if (numBlocks < 1) {
            throw new IllegalArgumentException("numBlocks must be at least 1, got " + numBlocks);
        }
        if (blockSize < 1) {
            throw new IllegalArgumentException("blockSize must be at least 1, got " + blockSize);
        }
        this.numBlocks = numBlocks;
        this.blockSize = blockSize;
        this.refCounts = new int[numBlocks];
        this.freeRing = new int[numBlocks];
        for (int i = 0; i < numBlocks; i++) {
            freeRing[i] = i;
        }
        this.freeCount = numBlocks;
    }

    public int numBlocks() {
        return numBlocks;
    }

    /** Tokens per block. */
    public int blockSize() {
        return blockSize;
    }

    public synchronized int numFreeBlocks() {
        return freeCount;
    }

    public synchronized int numUsedBlocks() {
        return numBlocks - freeCount;
    }

    /** Fraction of blocks in use, in [0, 1]: the value of {@code vllm:kv_cache_usage_perc}. */
    public synchronized double usage() {
        return 1.0 - (double) freeCount / numBlocks;
    }

    public synchronized boolean canAllocate(int n) {
        return n <= freeCount;
    }

    /** The reference count of one block; 0 means it is free. */
    public synchronized int refCount(int blockId) {
        checkId(blockId);
        return refCounts[blockId];
    }

    /**
     * Takes {@code n} free blocks (reference count 1 each), or throws without taking any.
     *
     * @throws KvCacheFullException when fewer than {@code n} blocks are free
     */
    public synchronized int[] allocate(int n) {
        int[] ids = tryAllocate(n);
        if (ids == null) {
            throw new KvCacheFullException(n, freeCount, numBlocks);
        }
        return ids;
    }

    /** Takes {@code n} free blocks (reference count 1 each), or returns {@code null} and takes none. */
    public synchronized int[] tryAllocate(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("cannot allocate a negative number of blocks: " + n);
        }
        if (n > freeCount) {
            return null;
        }
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            int id = freeRing[freeHead];
            freeHead = (freeHead + 1) % numBlocks;
            freeCount--;
            refCounts[id] = 1;
            ids[i] = id;
        }
        return ids;
    }

    /**
     * Adds one reference to each block (a second sequence shares them, e.g. a common prefix). Every id must
     * be allocated; an id may appear more than once and then gains one reference per appearance.
     */
    public synchronized void share(int... ids) {
        for (int id : ids) {
            checkId(id);
            if (refCounts[id] == 0) {
                throw new IllegalStateException("cannot share KV block " + id + ": it is free");
            }
        }
        for (int id : ids) {
            refCounts[id]++;
        }
    }

    /**
     * Drops one reference from each block; blocks that reach zero go to the back of the free list in the
     * order given. Fails without changing anything if an id is foreign or would be freed more often than it
     * is referenced (a double free).
     */
    public synchronized void free(int... ids) {
        int[] sorted = ids.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < sorted.length; ) {
            int id = sorted[i];
            checkId(id);
            int j = i;
            while (j < sorted.length && sorted[j] == id) {
                j++;
            }
            int times = j - i;
            if (refCounts[id] < times) {
                throw new IllegalStateException(
                        refCounts[id] == 0
                                ? "double free of KV block " + id + ": it is already free"
                                : "double free of KV block " + id + ": freed " + times + " times but it has only "
                                        + refCounts[id] + " reference(s)");
            }
            i = j;
        }
        for (int id : ids) {
            if (--refCounts[id] == 0) {
                freeRing[(freeHead + freeCount) % numBlocks] = id;
                freeCount++;
            }
        }
    }

    private void checkId(int id) {
        if (id < 0 || id >= numBlocks) {
            throw new IllegalStateException(
                    "KV block id " + id + " does not belong to this pool (ids are 0.." + (numBlocks - 1) + ")");
        }
    }

    @Override
    public synchronized String toString() {
        return "BlockPool[" + numBlocks + " blocks of " + blockSize + " tokens, " + freeCount + " free]";
    }
}
