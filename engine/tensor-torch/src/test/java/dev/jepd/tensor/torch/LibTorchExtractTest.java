package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The embedded libtorch's extraction when another JVM got there first: two nodes started together on a fresh
 * cache both extract, and the one whose rename comes second finds a whole libtorch in place (Linux answers
 * ENOTEMPTY, which the JDK reports as a plain FileSystemException). It must take that copy and leave no part
 * directory behind, never fail the node's start.
 */
class LibTorchExtractTest {
    @Test
    void aSecondExtractionTakesTheCopyAlreadyInPlace(@TempDir Path tmp) throws Exception {
        Path jar = tmp.resolve("jar");
        Files.createDirectories(jar.resolve("pfx"));
        Files.writeString(jar.resolve("pfx/libtorch_cpu.so"), "mine");
        Path dir = tmp.resolve("cache/2.7.1-cpu-linux-x86_64");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("libtorch_cpu.so"), "theirs");

        try (URLClassLoader cl = new URLClassLoader(new URL[] {jar.toUri().toURL()}, null)) {
            LibTorchLocator.extract(cl, "pfx/", new String[] {"libtorch_cpu.so"}, dir);
        }

        assertArrayEquals(
                "theirs".getBytes(StandardCharsets.UTF_8),
                Files.readAllBytes(dir.resolve("libtorch_cpu.so")),
                "the copy already in place is kept");
        try (Stream<Path> left = Files.list(dir.getParent())) {
            assertEquals(List.of(dir), left.toList(), "no part directory left behind");
        }
    }

    @Test
    void aFirstExtractionPutsTheLibrariesInPlace(@TempDir Path tmp) throws Exception {
        Path jar = tmp.resolve("jar");
        Files.createDirectories(jar.resolve("pfx"));
        Files.writeString(jar.resolve("pfx/libtorch_cpu.so"), "mine");
        Path dir = tmp.resolve("cache/2.7.1-cpu-linux-x86_64");

        try (URLClassLoader cl = new URLClassLoader(new URL[] {jar.toUri().toURL()}, null)) {
            LibTorchLocator.extract(cl, "pfx/", new String[] {"libtorch_cpu.so"}, dir);
        }

        assertEquals("mine", Files.readString(dir.resolve("libtorch_cpu.so")));
    }
}
