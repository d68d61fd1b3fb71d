package dev.jepd.engine.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BlockTableTest {
    @Test
    void slotMappingAcrossBlockBoundaries() {
        BlockPool pool = new BlockPool(10, 16);
        pool.allocate(3); // so the table's blocks are not 0, 1, 2
        BlockTable t = new BlockTable(pool);
        assertTrue(t.ensureCapacity(33));
        int[] b = t.blocks();
        assertArrayEquals(new int[] {3, 4, 5}, b);
        assertEquals(48, t.capacity());
        assertEquals(b[0] * 16, t.slot(0));
        assertEquals(b[0] * 16 + 15, t.slot(15));
        assertEquals(b[1] * 16, t.slot(16));
        assertEquals(b[1] * 16 + 15, t.slot(31));
        assertEquals(b[2] * 16, t.slot(32));
        int[] slots = t.slotMapping(14, 34);
        assertEquals(20, slots.length);
        for (int p = 14; p < 34; p++) {
            assertEquals(t.slot(p), slots[p - 14]);
        }
        assertThrows(IndexOutOfBoundsException.class, () -> t.slot(48));
        assertThrows(IndexOutOfBoundsException.class, () -> t.slotMapping(40, 49));
    }

    @Test
    void growsOnlyWhenABlockFillsUp() {
        BlockPool pool = new BlockPool(10, 16);
        BlockTable t = new BlockTable(pool);
        assertTrue(t.ensureCapacity(1));
        assertEquals(1, t.numBlocks());
        assertTrue(t.ensureCapacity(16));
        assertEquals(1, t.numBlocks());
        assertTrue(t.ensureCapacity(17));
        assertEquals(2, t.numBlocks());
        assertTrue(t.ensureCapacity(5), "shrinking requests are satisfied by what is held");
        assertEquals(2, t.numBlocks());
        assertEquals(0, t.blocksNeeded(32));
        assertEquals(1, t.blocksNeeded(33));
    }

    @Test
    void ensureCapacityIsAllOrNothing() {
        BlockPool pool = new BlockPool(4, 16);
        BlockTable a = new BlockTable(pool);
        assertTrue(a.ensureCapacity(40)); // 3 blocks
        BlockTable b = new BlockTable(pool);
        assertFalse(b.ensureCapacity(17)); // needs 2, 1 free
        assertEquals(0, b.numBlocks());
        assertEquals(1, pool.numFreeBlocks());
        KvCacheFullException e = assertThrows(KvCacheFullException.class, () -> b.ensureCapacityOrThrow(17));
        assertEquals(2, e.requested());
        assertTrue(b.ensureCapacity(16));
        a.release();
        assertEquals(3, pool.numFreeBlocks());
        assertEquals(0, a.numTokens());
        assertEquals(0, a.numBlocks());
        a.release(); // releasing an empty table frees nothing
        assertEquals(3, pool.numFreeBlocks());
    }

    @Test
    void numTokensMustFitCapacity() {
        BlockTable t = new BlockTable(new BlockPool(4, 16));
        assertThrows(IllegalArgumentException.class, () -> t.setNumTokens(1));
        t.ensureCapacity(20);
        t.setNumTokens(20);
        assertEquals(20, t.numTokens());
        assertThrows(IllegalArgumentException.class, () -> t.setNumTokens(33));
    }

    @Test
    void forkSharesOnlyFullBlocks() {
        BlockPool pool = new BlockPool(8, 16);
        BlockTable parent = new BlockTable(pool);
        parent.ensureCapacity(40);
        parent.setNumTokens(40); // 2 full blocks + 8 tokens
        BlockTable child = parent.forkFullBlocks();
        assertEquals(32, child.numTokens());
        assertArrayEquals(new int[] {parent.block(0), parent.block(1)}, child.blocks());
        assertEquals(2, pool.refCount(parent.block(0)));
        assertEquals(1, pool.refCount(parent.block(2)));
        assertEquals(5, pool.numFreeBlocks());
        parent.release();
        assertEquals(6, pool.numFreeBlocks());
        assertEquals(1, pool.refCount(child.block(0)));
        child.release();
        assertEquals(8, pool.numFreeBlocks());
    }

    @Test
    void releaseFreesTailFirst() {
        BlockPool pool = new BlockPool(3, 4);
        BlockTable t = new BlockTable(pool);
        t.ensureCapacity(12);
        assertArrayEquals(new int[] {0, 1, 2}, t.blocks());
        t.release();
        assertArrayEquals(new int[] {2, 1, 0}, pool.allocate(3));
    }

    /** Many sequences growing, forking and finishing at random; the accounting must never drift. */
    @Test
    void randomizedStress() {
        int numBlocks = 257;
        BlockPool pool = new BlockPool(numBlocks, 16);
        List<BlockTable> live = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(1234);
        int failures = 0;
        for (int step = 0; step < 10_000; step++) {
            int op = rnd.nextInt(10);
            if (op < 6 && !live.isEmpty()) {
                BlockTable t = live.get(rnd.nextInt(live.size()));
                int before = t.numBlocks();
                int freeBefore = pool.numFreeBlocks();
                int target = t.numTokens() + 1 + rnd.nextInt(40);
                if (t.ensureCapacity(target)) {
                    t.setNumTokens(target);
                } else {
                    failures++;
                    assertEquals(before, t.numBlocks(), "failed growth changed the table");
                    assertEquals(freeBefore, pool.numFreeBlocks(), "failed growth changed the pool");
                }
            } else if (op < 8) {
                BlockTable t = new BlockTable(pool);
                if (t.ensureCapacity(1 + rnd.nextInt(100))) {
                    t.setNumTokens(t.capacity() - rnd.nextInt(16));
                    live.add(t);
                }
            } else if (op < 9 && !live.isEmpty()) {
                live.add(live.get(rnd.nextInt(live.size())).forkFullBlocks());
            } else if (!live.isEmpty()) {
                live.remove(rnd.nextInt(live.size())).release();
            }
            checkInvariants(pool, live);
        }
        assertTrue(failures > 0, "the stress test should have exhausted the pool at least once");
        live.forEach(BlockTable::release);
        assertEquals(numBlocks, pool.numFreeBlocks());
        assertEquals(0.0, pool.usage());
    }

    private static void checkInvariants(BlockPool pool, List<BlockTable> live) {
        int[] owners = new int[pool.numBlocks()];
        for (BlockTable t : live) {
            boolean[] inThisTable = new boolean[pool.numBlocks()];
            for (int id : t.blocks()) {
                assertTrue(!inThisTable[id], "block " + id + " twice in one table");
                inThisTable[id] = true;
                owners[id]++;
            }
            assertTrue(t.numTokens() <= t.capacity());
        }
        int used = 0;
        for (int id = 0; id < owners.length; id++) {
            assertEquals(owners[id], pool.refCount(id), "reference count of block " + id);
            if (owners[id] > 0) {
                used++;
            }
        }
        assertEquals(used, pool.numUsedBlocks());
        assertEquals(pool.numBlocks(), pool.numFreeBlocks() + used, "free + used == total");
    }
}
