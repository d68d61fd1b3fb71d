package dev.jepd.transfer.ec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.safetensors.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.OptionalLong;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SharedStorageEcConnectorLruTest {
    private static final int TOKENS = 4;
    private static final int DIM = 8;

    @TempDir
    Path root;

    /** Bytes of one entry of [TOKENS, DIM] BF16 on disk (header included). */
    private long entryBytes;

    @BeforeEach
    void measureOneEntry() {
        SharedStorageEcConnector probe = new SharedStorageEcConnector(root, DType.BF16, OptionalLong.empty());
        probe.save("k0", rows(0), TOKENS, DIM);
        entryBytes = probe.bytesStored();
        assertTrue(entryBytes > 2L * TOKENS * DIM, "header included: " + entryBytes);
        assertTrue(deleteEntry(root, "k0"));
    }

    private static float[] rows(int seed) {
        float[] v = new float[TOKENS * DIM];
        for (int i = 0; i < v.length; i++) {
            v[i] = seed * 100 + i; // distinct per entry; these tests only check presence and order
        }
        return v;
    }

    /** Room for three entries and a half. */
    private SharedStorageEcConnector connectorForThree() {
        return new SharedStorageEcConnector(root, DType.BF16, OptionalLong.of(entryBytes * 7 / 2));
    }

    @Test
    void leastRecentlyUsedIsEvictedFirstAndTouchOrderDecides() {
        SharedStorageEcConnector c = connectorForThree();
        c.save("a", rows(1), TOKENS, DIM);
        c.save("b", rows(2), TOKENS, DIM);
        c.save("c", rows(3), TOKENS, DIM);
        assertEquals(3 * entryBytes, c.bytesStored());
        assertEquals(0, c.evictions());

        assertTrue(c.load("a", TOKENS, DIM).isPresent()); // a becomes the most recent
        assertEquals(List.of("b", "c", "a"), c.lruOrder());

        c.save("d", rows(4), TOKENS, DIM);
        assertEquals(1, c.evictions());
        assertFalse(c.contains("b"));
        assertFalse(Files.exists(root.resolve("b")), "the evicted entry's directory is removed too");
        assertTrue(c.contains("a"));
        assertTrue(c.contains("c"));
        assertTrue(c.contains("d"));
        assertEquals(List.of("c", "a", "d"), c.lruOrder());
        assertEquals(3 * entryBytes, c.bytesStored());

        // A miss does not touch: c stays the oldest.
        assertTrue(c.load("zzz", TOKENS, DIM).isEmpty());
        c.save("e", rows(5), TOKENS, DIM);
        assertFalse(c.contains("c"));
        assertEquals(List.of("a", "d", "e"), c.lruOrder());
        assertEquals(2, c.evictions());
    }

    @Test
    void resavingTouches() {
        SharedStorageEcConnector c = connectorForThree();
        c.save("a", rows(1), TOKENS, DIM);
        c.save("b", rows(2), TOKENS, DIM);
        c.save("c", rows(3), TOKENS, DIM);
        c.save("a", rows(1), TOKENS, DIM);
        c.save("d", rows(4), TOKENS, DIM);
        assertFalse(c.contains("b"));
        assertEquals(List.of("c", "a", "d"), c.lruOrder());
    }

    @Test
    void theEntryJustWrittenIsNeverEvicted() {
        // Capacity below one entry: each save evicts everything else but keeps itself.
        SharedStorageEcConnector c = new SharedStorageEcConnector(root, DType.BF16, OptionalLong.of(entryBytes / 2));
        c.save("x", rows(1), TOKENS, DIM);
        assertTrue(c.contains("x"));
        assertEquals(0, c.evictions());
        c.save("y", rows(2), TOKENS, DIM);
        assertTrue(c.contains("y"));
        assertFalse(c.contains("x"));
        assertEquals(1, c.evictions());
        assertTrue(c.load("y", TOKENS, DIM).isPresent());
        assertEquals(entryBytes, c.bytesStored());
    }

    @Test
    void indexIsRebuiltFromTheDirectoryOnRestartInMtimeOrder() throws IOException {
        SharedStorageEcConnector first = new SharedStorageEcConnector(root, DType.BF16, OptionalLong.empty());
        for (String k : List.of("p", "q", "r", "s")) {
            first.save(k, rows(k.charAt(0)), TOKENS, DIM);
        }
        // Make the modification times say: r oldest, then p, s, q (not the save order).
        long t0 = 1_700_000_000_000L;
        String[] byAge = {"r", "p", "s", "q"};
        for (int i = 0; i < byAge.length; i++) {
            Files.setLastModifiedTime(first.fileOf(byAge[i]), FileTime.fromMillis(t0 + i * 1000L));
        }
        // Strays the scan must ignore: an empty directory (vLLM consumer's miss) and a plain file.
        Files.createDirectories(root.resolve("empty"));
        Files.writeString(root.resolve("README"), "not an entry");

        SharedStorageEcConnector restarted = new SharedStorageEcConnector(root, DType.BF16, OptionalLong.empty());
        assertEquals(List.of(byAge), restarted.lruOrder());
        assertEquals(4 * entryBytes, restarted.bytesStored());

        // With a cap of three, the restart itself trims the oldest by mtime...
        SharedStorageEcConnector capped = connectorForThree();
        assertEquals(List.of("p", "s", "q"), capped.lruOrder());
        assertFalse(capped.contains("r"));
        assertEquals(1, capped.evictions());
        // ...and later saves keep evicting in that order.
        capped.save("t", rows(9), TOKENS, DIM);
        assertFalse(capped.contains("p"));
        assertEquals(List.of("s", "q", "t"), capped.lruOrder());
        assertTrue(Files.isDirectory(root.resolve("empty")), "not ours to delete");
    }

    @Test
    void entriesWrittenByOthersAreCountedOnceSeen() {
        SharedStorageEcConnector c = connectorForThree();
        // Another node (here: another connector on the same directory) writes two entries.
        SharedStorageEcConnector other = new SharedStorageEcConnector(root, DType.BF16, OptionalLong.empty());
        other.save("o1", rows(1), TOKENS, DIM);
        other.save("o2", rows(2), TOKENS, DIM);
        assertEquals(0, c.bytesStored());
        assertTrue(c.load("o1", TOKENS, DIM).isPresent());
        assertEquals(entryBytes, c.bytesStored());
        // A vanished entry leaves the index on its next miss.
        other.save("o3", rows(3), TOKENS, DIM);
        assertTrue(c.load("o3", TOKENS, DIM).isPresent());
        assertEquals(List.of("o1", "o3"), c.lruOrder());
        assertTrue(deleteEntry(root, "o3"));
        assertTrue(c.load("o3", TOKENS, DIM).isEmpty());
        assertEquals(List.of("o1"), c.lruOrder());
        assertEquals(entryBytes, c.bytesStored());
    }

    private static boolean deleteEntry(Path root, String key) {
        try {
            Files.delete(root.resolve(key).resolve("encoder_cache.safetensors"));
            Files.delete(root.resolve(key));
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
