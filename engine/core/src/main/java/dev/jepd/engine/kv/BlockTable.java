package dev.jepd.engine.kv;

import java.util.Arrays;

/**
 * The KV blocks of one sequence, in logical order: token position {@code p} lives in block
 * {@code blocks()[p / blockSize]} at offset {@code p % blockSize}, i.e. physical slot
 * {@code blockId * blockSize + offset} (vLLM's slot mapping).
 *
 * <p>{@link #ensureCapacity} grows the table before a step writes new tokens; {@link #setNumTokens} records
 * how many positions hold computed KV once the step has run. Not thread-safe: a table belongs to the one
 * scheduler thread that runs its sequence (the pool it draws from is shared and synchronized).
 */
public final class BlockTable {
    private final BlockPool pool;
    private final int blockSize;
    private int[] blocks = new int[8];
    private int numBlocks;
    private int numTokens;

    public BlockTable(BlockPool pool) {
        this.pool = pool;
        this.blockSize = pool.blockSize();
    }

    /** The number of blocks that {@code tokens} tokens need. */
    public static int blocksFor(int tokens, int blockSize) {
        return (tokens + blockSize - 1) / blockSize;
    }

    public BlockPool pool() {
        return pool;
    }

    public int blockSize() {
        return blockSize;
    }

    /** Positions whose KV has been computed and is held in the blocks. */
    public int numTokens() {
        return numTokens;
    }

    public int numBlocks() {
        return numBlocks;
    }

    /** Positions the allocated blocks can hold. */
    public int capacity() {
        return numBlocks * blockSize;
    }

    /** How many more blocks {@link #ensureCapacity} would take from the pool for {@code newTotalTokens}. */
    public int blocksNeeded(int newTotalTokens) {
        return Math.max(0, blocksFor(newTotalTokens, blockSize) - numBlocks);
    }

    /**
     * Allocates the blocks needed to hold {@code newTotalTokens} positions: all of them, or none when the pool
     * has too few free blocks (then returns {@code false} and nothing changed).
     */
    public boolean ensureCapacity(int newTotalTokens) {
        if (newTotalTokens < 0) {
            throw new IllegalArgumentException("token count must be non-negative, got " + newTotalTokens);
        }
        int needed = blocksNeeded(newTotalTokens);
        if (needed == 0) {
            return true;
        }
        int[] fresh = pool.tryAllocate(needed);
        if (fresh == null) {
            return false;
        }
        append(fresh);
        return true;
    }

    /** As {@link #ensureCapacity}, but a full pool is a {@link KvCacheFullException}. */
    public void ensureCapacityOrThrow(int newTotalTokens) {
        if (!ensureCapacity(newTotalTokens)) {
            throw new KvCacheFullException(blocksNeeded(newTotalTokens), pool.numFreeBlocks(), pool.numBlocks());
        }
    }

    /** Records that positions {@code [0, numTokens)} now hold computed KV; they must fit the capacity. */
    public void setNumTokens(int numTokens) {
        if (numTokens < 0 || numTokens > capacity()) {
            throw new IllegalArgumentException(
                    "token count " + numTokens + " outside the table's capacity [0, " + capacity() + "]");
        }
        this.numTokens = numTokens;
    }

    /** The physical slot of one position: {@code blockId * blockSize + position % blockSize}. */
    public int slot(int position) {
        if (position < 0 || position >= capacity()) {
            throw new IndexOutOfBoundsException(
                    "position " + position + " outside the allocated capacity [0, " + capacity() + ")");
        }
        return blocks[position / blockSize] * blockSize + position % blockSize;
    }

    /** The slots of positions {@code [from, to)}, in order. */
    public int[] slotMapping(int from, int to) {
        if (from < 0 || to < from || to > capacity()) {
            throw new IndexOutOfBoundsException(
                    "positions [" + from + ", " + to + ") outside the allocated capacity [0, " + capacity() + ")");
        }
        int[] slots = new int[to - from];
        for (int p = from; p < to; p++) {
            slots[p - from] = blocks[p / blockSize] * blockSize + p % blockSize;
        }
        return slots;
    }

    /** The block ids in logical order (a copy). */
    public int[] blocks() {
        return Arrays.copyOf(blocks, numBlocks);
    }

    public int block(int index) {
        if (index < 0 || index >= numBlocks) {
            throw new IndexOutOfBoundsException("block index " + index + " of " + numBlocks);
        }
        return blocks[index];
    }

    /**
     * A new table that shares this one's completely filled blocks (one more reference each) and holds their
     * tokens. Partly filled blocks are not shared, since both sequences would write into them; the fork
     * recomputes those tokens, as a vLLM prefix-cache hit does.
     */
    public BlockTable forkFullBlocks() {
        int full = numTokens / blockSize;
        int[] shared = Arrays.copyOf(blocks, full);
        pool.share(shared);
        BlockTable fork = new BlockTable(pool);
        fork.append(shared);
        fork.numTokens = full * blockSize;
        return fork;
    }

    /**
     * Returns every block to the pool and empties the table. Blocks are freed last-first, as vLLM does, so
     * that the tail of a sequence (least likely to be shared) is the first to be reused.
     */
    public void release() {
        int[] reversed = new int[numBlocks];
        for (int i = 0; i < numBlocks; i++) {
            reversed[i] = blocks[numBlocks - 1 - i];
        }
        pool.free(reversed);
        numBlocks = 0;
        numTokens = 0;
    }

    private void append(int[] ids) {
        if (numBlocks + ids.length > blocks.length) {
            blocks = Arrays.copyOf(blocks, Math.max(blocks.length * 2, numBlocks + ids.length));
        }
        System.arraycopy(ids, 0, blocks, numBlocks, ids.length);
        numBlocks += ids.length;
    }

    @Override
    public String toString() {
        return "BlockTable[" + numTokens + " tokens in blocks " + Arrays.toString(blocks()) + "]";
    }
}
