package dev.jepd.engine.connector;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.kv.BlockPool;
import dev.jepd.engine.kv.BlockTable;
import org.junit.jupiter.api.Test;

class KvLeaseRegistryTest {
    static BlockTable table(BlockPool pool, int tokens) {
        BlockTable t = new BlockTable(pool);
        t.ensureCapacityOrThrow(tokens);
        t.setNumTokens(tokens);
        return t;
    }

    @Test
    void holdKeepsTheBlocksAndReturnsThePromptBlocks() {
        BlockPool pool = new BlockPool(10, 16);
        KvLeaseRegistry leases = new KvLeaseRegistry();
        BlockTable t = table(pool, 40); // 3 blocks
        int[] expected = java.util.Arrays.copyOf(t.blocks(), 2);
        assertArrayEquals(expected, leases.hold("a", t, 17, 100));
        assertEquals(3, leases.heldBlocks());
        assertEquals(3, pool.numUsedBlocks());
        assertEquals(17, leases.get("a").promptTokens());
        assertThrows(IllegalStateException.class, () -> leases.hold("a", table(pool, 1), 1, 100));
    }

    @Test
    void releaseFreesOnceAndCounts() {
        BlockPool pool = new BlockPool(10, 16);
        KvLeaseRegistry leases = new KvLeaseRegistry();
        leases.hold("a", table(pool, 33), 33, 100);
        assertTrue(leases.release("a"));
        assertFalse(leases.release("a"), "a second confirm finds nothing");
        assertNull(leases.get("a"));
        assertEquals(0, leases.heldBlocks());
        assertEquals(0, pool.numUsedBlocks());
        assertEquals(1, leases.releasedTotal());
        assertEquals(0, leases.expiredTotal());
    }

    @Test
    void expireFreesOnlyLeasesPastTheirDeadline() {
        BlockPool pool = new BlockPool(10, 16);
        KvLeaseRegistry leases = new KvLeaseRegistry();
        leases.hold("early", table(pool, 16), 16, 100);
        leases.hold("late", table(pool, 32), 32, 200);
        assertEquals(0, leases.expire(99));
        assertEquals(1, leases.expire(100));
        assertNull(leases.get("early"));
        assertEquals(2, leases.heldBlocks());
        assertEquals(2, pool.numUsedBlocks());
        assertFalse(leases.release("early"), "an expired lease cannot be confirmed");
        assertEquals(1, leases.expire(Long.MAX_VALUE));
        assertEquals(0, pool.numUsedBlocks());
        assertEquals(2, leases.expiredTotal());
    }

    @Test
    void deadlinesCompareAcrossNanoTimeWraparound() {
        BlockPool pool = new BlockPool(4, 16);
        KvLeaseRegistry leases = new KvLeaseRegistry();
        long deadline = Long.MAX_VALUE - 5 + 10; // wrapped: a deadline just after now = MAX - 5
        leases.hold("w", table(pool, 1), 1, deadline);
        assertEquals(0, leases.expire(Long.MAX_VALUE - 5));
        assertEquals(1, leases.expire(deadline));
    }
}
