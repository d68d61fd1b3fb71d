package dev.jepd.engine.connector;

import dev.jepd.engine.kv.BlockTable;
import java.util.Arrays;
import java.util.List;

/**
 * The finished prompts whose blocks a prefill node holds for a decode node: each until the decode node confirms
 * its copy ({@link #release}) or its lease runs out ({@link #expire}), whichever comes first; then the blocks go
 * back to the pool: a {@link LeaseRegistry} of block tables that also counts the blocks held. Times are
 * {@link System#nanoTime()} values passed in, so tests need no clock. Thread-safe.
 */
public final class KvLeaseRegistry {
    /** One held prompt: its block table (all blocks it had) and the ids that hold the prompt's tokens. */
    public record Lease(String requestId, BlockTable table, int[] promptBlockIds, int promptTokens, long deadline) {}

    private final LeaseRegistry<Lease> leases = new LeaseRegistry<>();
    private int heldBlocks;

    /**
     * Takes over {@code table} (its blocks stay allocated) until {@code deadline}. Returns the ids of the
     * blocks that hold positions {@code [0, promptTokens)}.
     */
    public synchronized int[] hold(String requestId, BlockTable table, int promptTokens, long deadline) {
        if (leases.get(requestId) != null) {
            throw new IllegalStateException("KV blocks are already held for request " + requestId);
        }
        int n = BlockTable.blocksFor(promptTokens, table.blockSize());
        if (n > table.numBlocks()) {
            throw new IllegalStateException("request " + requestId + " has " + table.numBlocks()
                    + " blocks, its prompt of " + promptTokens + " tokens needs " + n);
        }
        int[] ids = Arrays.copyOf(table.blocks(), n);
        leases.hold(requestId, new Lease(requestId, table, ids, promptTokens, deadline), deadline);
        heldBlocks += table.numBlocks();
        return ids.clone();
    }

    /** The lease of a request, or null when none is held (never was, confirmed or expired). */
    public synchronized Lease get(String requestId) {
        LeaseRegistry.Lease<Lease> l = leases.get(requestId);
        return l == null ? null : l.value();
    }

    /** Frees a request's held blocks; false when none were held. */
    public synchronized boolean release(String requestId) {
        Lease l = leases.release(requestId);
        if (l == null) {
            return false;
        }
        free(l);
        return true;
    }

    /** Frees every lease whose deadline is at or before {@code now}; returns how many. */
    public synchronized int expire(long now) {
        List<Lease> ended = leases.expire(now);
        ended.forEach(this::free);
        return ended.size();
    }

    /** Blocks held in all leases (the {@code jepd:kv_blocks_held} gauge). */
    public synchronized int heldBlocks() {
        return heldBlocks;
    }

    /** Leases ended by a decode node's confirmation, since start. */
    public long releasedTotal() {
        return leases.releasedTotal();
    }

    /** Leases that ran out unconfirmed, since start. */
    public long expiredTotal() {
        return leases.expiredTotal();
    }

    public int size() {
        return leases.size();
    }

    private void free(Lease l) {
        heldBlocks -= l.table.numBlocks();
        l.table.release();
    }
}
