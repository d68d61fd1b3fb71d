package dev.jepd.transfer.nixl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class StagingAreaTest {
    @Test
    void allocatesAlignedFirstFitAndSaysWhenFull() {
        StagingArea a = new StagingArea(1000);
        assertEquals(960, a.capacity(), "rounded down to the alignment");
        long x = a.allocate(1).getAsLong();
        long y = a.allocate(65).getAsLong();
        assertEquals(0, x);
        assertEquals(64, y, "each range starts on a 64-byte boundary");
        assertEquals(64 + 128, a.usedBytes());
        assertTrue(a.allocate(961).isEmpty());
        assertTrue(a.allocate(960 - 192 + 1).isEmpty(), "one byte more than what is left");
        assertEquals(960 - 192, a.largestFree());
    }

    @Test
    void freedRangesMergeWithTheirNeighbours() {
        StagingArea a = new StagingArea(64 * 4);
        long r0 = a.allocate(64).getAsLong();
        long r1 = a.allocate(64).getAsLong();
        long r2 = a.allocate(64).getAsLong();
        long r3 = a.allocate(64).getAsLong();
        assertTrue(a.allocate(64).isEmpty());
        a.free(r1);
        a.free(r3);
        assertTrue(a.allocate(128).isEmpty(), "two free ranges, not adjacent");
        a.free(r2); // joins r1 and r3
        assertEquals(192, a.largestFree());
        assertEquals(64, a.allocate(192).getAsLong());
        a.free(64);
        a.free(r0);
        assertEquals(256, a.largestFree());
        assertEquals(0, a.usedBytes());
        assertThrows(IllegalArgumentException.class, () -> a.free(r0), "a double free is an error");
    }

    @Test
    void randomAllocationsNeverOverlapAndAllComesBack() {
        StagingArea a = new StagingArea(1 << 16);
        Random rnd = new Random(7);
        List<long[]> live = new ArrayList<>(); // offset, size
        for (int i = 0; i < 5000; i++) {
            if (!live.isEmpty() && rnd.nextInt(3) == 0) {
                a.free(live.remove(rnd.nextInt(live.size()))[0]);
            } else {
                long size = 1 + rnd.nextInt(3000);
                var got = a.allocate(size);
                if (got.isPresent()) {
                    long off = got.getAsLong();
                    for (long[] o : live) {
                        assertTrue(off + size <= o[0] || o[0] + o[1] <= off, "overlap at " + off);
                    }
                    assertTrue(off + size <= a.capacity());
                    live.add(new long[] {off, size});
                }
            }
        }
        for (long[] o : live) {
            a.free(o[0]);
        }
        assertEquals(0, a.usedBytes());
        assertEquals(a.capacity(), a.largestFree());
    }
}
