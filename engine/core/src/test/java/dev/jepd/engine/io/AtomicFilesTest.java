package dev.jepd.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path dir;

    @Test
    void writesReplacesAndCreatesParents() throws IOException {
        Path f = dir.resolve("a/b/file.bin");
        AtomicFiles.write(f, new byte[] {1, 2, 3});
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(f));
        AtomicFiles.write(f, ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap(new byte[] {9})));
        assertArrayEquals(new byte[] {9}, Files.readAllBytes(f));
        try (var s = Files.list(f.getParent())) {
            assertEquals(List.of(f), s.toList(), "no temporary file left beside the target");
        }
    }

    @Test
    void aFailedWriteLeavesTheOldFileAndNoTemporary() throws IOException {
        Path f = dir.resolve("file.bin");
        AtomicFiles.write(f, new byte[] {7, 7});
        IOException boom = assertThrows(
                IOException.class,
                () -> AtomicFiles.write(f, ch -> {
                    AtomicFiles.writeFully(ch, ByteBuffer.wrap(new byte[] {1}));
                    throw new IOException("disk full");
                }));
        assertEquals("disk full", boom.getMessage());
        assertArrayEquals(new byte[] {7, 7}, Files.readAllBytes(f));
        try (var s = Files.list(dir)) {
            assertEquals(List.of(f), s.toList());
        }
    }
}
