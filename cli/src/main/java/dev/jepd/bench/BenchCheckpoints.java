package dev.jepd.bench;

import dev.jepd.engine.safetensors.DType;
import dev.jepd.models.tiny.TinyQwen25VlWriter;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Locale;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Qwen2.5-VL-3B-shaped checkpoints benchmarks run on: the real model's dimensions with deterministic
 * random weights and fewer layers ({@link TinyQwen25VlWriter.Qwen3BShaped}), written once and reused.
 */
public final class BenchCheckpoints {
    private static final Logger LOG = LoggerFactory.getLogger(BenchCheckpoints.class);

    private BenchCheckpoints() {}

    /** {@code qwen2.5-vl-3b-shaped-2t2v-bf16}: the directory name says what is inside. */
    public static String name(int textLayers, int visionLayers, DType dtype) {
        return "qwen2.5-vl-3b-shaped-" + textLayers + "t" + visionLayers + "v-"
                + dtype.name().toLowerCase(Locale.ROOT);
    }

    /**
     * Makes {@code dir} hold the 3B-shaped checkpoint unless it exists. It is written next to {@code dir}
     * under a temporary name and renamed into place, so a directory at {@code dir} is always complete (an
     * interrupted write leaves only a temporary directory, removed by the next attempt's cleanup or by hand).
     */
    public static Path ensure3BShaped(Path dir, int textLayers, int visionLayers, DType dtype) throws IOException {
        if (Files.isRegularFile(dir.resolve(TinyQwen25VlWriter.CONFIG))) {
            return dir;
        }
        Path parent = dir.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + dir.getFileName() + ".");
        try {
            var options = TinyQwen25VlWriter.Options.golden()
                    .withDtype(dtype)
                    .withShape(new TinyQwen25VlWriter.Qwen3BShaped(textLayers, visionLayers));
            LOG.info(
                    "writing a Qwen2.5-VL-3B-shaped checkpoint ({} text layers, {} vision blocks, {}) to {}",
                    textLayers,
                    visionLayers,
                    dtype,
                    dir);
            long t0 = System.nanoTime();
            TinyQwen25VlWriter.write(tmp, options);
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, dir);
            } catch (IOException e) {
                if (!Files.isRegularFile(dir.resolve(TinyQwen25VlWriter.CONFIG))) {
                    throw e;
                }
                // Another process finished first; its checkpoint is the same bytes.
                LOG.info("{} appeared meanwhile; using it", dir);
            }
            LOG.info("checkpoint written in {} s", String.format(Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9));
            return dir;
        } finally {
            deleteTree(tmp);
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
