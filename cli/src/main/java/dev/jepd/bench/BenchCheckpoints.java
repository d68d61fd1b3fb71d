package dev.jepd.bench;

import dev.jepd.engine.safetensors.DType;
import dev.jepd.media.ModelFamily;
import dev.jepd.models.tiny.TinyQwen25VlWriter;
import dev.jepd.models.tiny.TinyQwen2VlWriter;
import dev.jepd.models.tiny.TinyQwen3VlWriter;
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
 * The checkpoints benchmarks run on, one per family: a real model's dimensions with deterministic random weights
 * and fewer layers, written once and reused. Qwen2.5-VL-3B ({@link TinyQwen25VlWriter.Qwen3BShaped}), Qwen2-VL-2B
 * ({@link TinyQwen2VlWriter.Qwen2BShaped}) and Qwen3-VL-4B ({@link TinyQwen3VlWriter.Qwen4BShaped}, its DeepStack
 * mergers kept inside the kept blocks).
 */
public final class BenchCheckpoints {
    private static final Logger LOG = LoggerFactory.getLogger(BenchCheckpoints.class);

    /**
     * A family's benchmark shape.
     *
     * @param model the real model whose dimensions it has
     * @param textLayers the real model's decoder layers (the depth estimates extrapolate to)
     * @param visionBlocks the real model's vision blocks
     * @param deepstack the real model's DeepStack indexes (Qwen3-VL), empty for none
     */
    public record Shape(ModelFamily family, String model, int textLayers, int visionBlocks, int[] deepstack) {
        /** The family's shape: Qwen2.5-VL-3B, Qwen2-VL-2B or Qwen3-VL-4B. */
        public static Shape of(ModelFamily family) {
            return switch (family) {
                case QWEN2_5_VL ->
                    new Shape(
                            family,
                            "Qwen2.5-VL-3B",
                            BenchSettings.QWEN25_VL_3B_TEXT_LAYERS,
                            BenchSettings.QWEN25_VL_3B_VISION_BLOCKS,
                            new int[0]);
                case QWEN2_VL -> new Shape(family, "Qwen2-VL-2B", 28, 32, new int[0]);
                case QWEN3_VL ->
                    new Shape(family, "Qwen3-VL-4B", 36, 24, TinyQwen3VlWriter.Qwen4BShaped.REAL_DEEPSTACK);
            };
        }

        /** {@code qwen2-vl-2b-shaped-2t2v-bf16}: the directory name says what is inside. */
        public String dirName(int keptTextLayers, int keptVisionBlocks, DType dtype) {
            return model.toLowerCase(Locale.ROOT) + "-shaped-" + keptTextLayers + "t" + keptVisionBlocks + "v-"
                    + dtype.name().toLowerCase(Locale.ROOT);
        }

        /** Writes the shortened checkpoint into {@code dir}. */
        void write(Path dir, int keptTextLayers, int keptVisionBlocks, DType dtype) throws IOException {
            switch (family) {
                case QWEN2_5_VL ->
                    TinyQwen25VlWriter.write(
                            dir,
                            TinyQwen25VlWriter.Options.golden()
                                    .withDtype(dtype)
                                    .withShape(new TinyQwen25VlWriter.Qwen3BShaped(keptTextLayers, keptVisionBlocks)));
                case QWEN2_VL ->
                    TinyQwen2VlWriter.write(
                            dir,
                            TinyQwen2VlWriter.config(
                                    new TinyQwen2VlWriter.Qwen2BShaped(keptTextLayers, keptVisionBlocks), dtype),
                            dtype);
                case QWEN3_VL ->
                    TinyQwen3VlWriter.write(
                            dir,
                            TinyQwen3VlWriter.config(
                                    new TinyQwen3VlWriter.Qwen4BShaped(keptTextLayers, keptVisionBlocks), dtype),
                            dtype);
            }
        }
    }

    private BenchCheckpoints() {}

    /**
     * Makes {@code dir} hold the shaped checkpoint unless it exists. It is written next to {@code dir} under a
     * temporary name and renamed into place, so a directory at {@code dir} is always complete (an interrupted
     * write leaves only a temporary directory, removed by the next attempt's cleanup or by hand).
     */
    public static Path ensureShaped(Shape shape, Path dir, int textLayers, int visionLayers, DType dtype)
            throws IOException {
        if (Files.isRegularFile(dir.resolve(TinyQwen25VlWriter.CONFIG))) {
            return dir;
        }
        Path parent = dir.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + dir.getFileName() + ".");
        try {
            LOG.info(
                    "writing a {}-shaped checkpoint ({} text layers, {} vision blocks, {}) to {}",
                    shape.model(),
                    textLayers,
                    visionLayers,
                    dtype,
                    dir);
            long t0 = System.nanoTime();
            shape.write(tmp, textLayers, visionLayers, dtype);
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
