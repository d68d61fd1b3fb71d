package dev.jepd.engine.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BlockPoolTest {
    @Test
    void allocatesToExhaustionThenFails() {
        BlockPool pool = new BlockPool(10, 16);
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 5; i++) {
            for (int id : pool.allocate(2)) {
                assertTrue(seen.add(id), "block " + id + " handed out twice");
            }
        }
        assertEquals(10, seen.size());
        assertEquals(0, pool.numFreeBlocks());
        assertNull(pool.tryAllocate(1));
        KvCacheFullException e = assertThrows(KvCacheFullException.class, () -> pool.allocate(1));
        assertEquals(1, e.requested());
        assertEquals(0, e.free());
        assertArrayEquals(new int[0], pool.allocate(0));
    }

    @Test
    void failedAllocationLeavesStateUnchanged() {
        BlockPool pool = new BlockPool(8, 16);
        int[] held = pool.allocate(5);
        assertNull(pool.tryAllocate(4));
        assertThrows(KvCacheFullException.class, () -> pool.allocate(4));
        assertEquals(3, pool.numFreeBlocks());
        for (int id : held) {
            assertEquals(1, pool.refCount(id));
        }
        int[] rest = pool.allocate(3);
        assertEquals(3, rest.length);
        assertEquals(0, pool.numFreeBlocks());
    }

    @Test
    void freeListIsFifo() {
        BlockPool pool = new BlockPool(4, 16);
        int[] a = pool.allocate(2); // 0, 1
        assertArrayEquals(new int[] {0, 1}, a);
        pool.free(1, 0);
        // 2 and 3 were free before 1 and 0 came back.
        assertArrayEquals(new int[] {2, 3, 1, 0}, pool.allocate(4));
    }

    @Test
    void sharedBlocksReturnOnlyWhenTheLastReferenceGoes() {
        BlockPool pool = new BlockPool(4, 16);
        int[] ids = pool.allocate(2);
        pool.share(ids);
        assertEquals(2, pool.refCount(ids[0]));
        pool.free(ids);
        assertEquals(2, pool.numFreeBlocks());
        assertEquals(1, pool.refCount(ids[1]));
        pool.free(ids);
        assertEquals(4, pool.numFreeBlocks());
        assertEquals(0, pool.refCount(ids[0]));
    }

    @Test
    void doubleFreeIsDetectedAndChangesNothing() {
        BlockPool pool = new BlockPool(4, 16);
        int[] ids = pool.allocate(2);
        pool.free(ids[0]);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.free(ids[1], ids[0]));
        assertTrue(e.getMessage().contains("double free of KV block " + ids[0]), e.getMessage());
        assertEquals(1, pool.refCount(ids[1]), "a rejected free must not release the valid ids either");
        assertEquals(3, pool.numFreeBlocks());
        // The same id twice in one call with a single reference is also a double free.
        assertThrows(IllegalStateException.class, () -> pool.free(ids[1], ids[1]));
        assertEquals(1, pool.refCount(ids[1]));
    }

    @Test
    void foreignIdsAreRejected() {
        BlockPool pool = new BlockPool(4, 16);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.free(4));
        assertTrue(e.getMessage().contains("does not belong to this pool"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> pool.free(-1));
        assertThrows(IllegalStateException.class, () -> pool.share(7));
        assertThrows(IllegalStateException.class, () -> pool.share(0), "sharing a free block");
    }

    @Test
    void usageGauge() {
        BlockPool pool = new BlockPool(8, 16);
        assertEquals(0.0, pool.usage());
        int[] a = pool.allocate(2);
        assertEquals(0.25, pool.usage());
        pool.share(a);
        assertEquals(0.25, pool.usage(), "sharing uses no new blocks");
        int[] b = pool.allocate(6);
        assertEquals(1.0, pool.usage());
        pool.free(b);
        pool.free(a);
        pool.free(a);
        assertEquals(0.0, pool.usage());
    }

    @Test
    void rejectsBadSizes() {
        assertThrows(IllegalArgumentException.class, () -> new BlockPool(0, 16));
        assertThrows(IllegalArgumentException.class, () -> new BlockPool(4, 0));
        assertThrows(IllegalArgumentException.class, () -> new BlockPool(4, 16).allocate(-1));
    }
}
