package dev.jepd.transfer.ec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.EcStoreException;
import dev.jepd.engine.safetensors.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Storage faults: a write the file system refuses is an {@link EcStoreException} that leaves nothing behind (no
 * temporary file, no empty key directory), and an entry that alone would exceed {@code capacity_bytes} is refused
 * before it is written. (The tests run as root, which ignores permission bits, so the refused write is made by a
 * file standing where the key's directory must go, and by a directory where the entry's file must go.)
 */
class SharedStorageEcConnectorFaultsTest {
    @TempDir
    Path root;

    static List<Path> everything(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> !p.equals(dir)).sorted().toList();
        }
    }

    @Test
    void aRefusedWriteIsAStoreErrorAndLeavesNothingBehind() throws IOException {
        SharedStorageEcConnector c = new SharedStorageEcConnector(root, DType.BF16, OptionalLong.empty());
        Files.writeString(root.resolve("blocked"), "a file where the key's directory must go");
        assertThrows(EcStoreException.class, () -> c.save("blocked", new float[32], 4, 8));
        assertEquals(List.of(root.resolve("blocked")), everything(root));

        // The entry's own name taken by a non-empty directory: the rename over it fails.
        Files.createDirectories(root.resolve("taken").resolve(EcFile.FILE_NAME).resolve("x"));
        assertThrows(EcStoreException.class, () -> c.save("taken", new float[32], 4, 8));
        List<Path> left = everything(root);
        assertFalse(
                left.stream().anyMatch(p -> p.getFileName().toString().endsWith(".tmp")),
                "a temporary file was left: " + left);
        assertEquals(0, c.saves());
        assertEquals(0, c.bytesStored());
        // The store still works for other keys.
        c.save("fine", new float[32], 4, 8);
        assertTrue(c.load("fine", 4, 8).isPresent());
    }

    @Test
    void anEntryBiggerThanTheCapacityIsRefusedUnwritten() throws IOException {
        SharedStorageEcConnector c = new SharedStorageEcConnector(root, DType.BF16, OptionalLong.of(1000));
        EcStoreException e = assertThrows(EcStoreException.class, () -> c.save("huge", new float[64 * 64], 64, 64));
        assertTrue(e.getMessage().contains("capacity"), e.getMessage());
        assertEquals(List.of(), everything(root));
        for (int i = 0; i < 20; i++) {
            c.save("k" + i, new float[32], 4, 8);
            long onDisk = 0;
            for (Path p : everything(root)) {
                onDisk += Files.isRegularFile(p) ? Files.size(p) : 0;
            }
            assertTrue(onDisk <= 1000, "the directory grew past capacity_bytes: " + onDisk);
        }
    }
}
