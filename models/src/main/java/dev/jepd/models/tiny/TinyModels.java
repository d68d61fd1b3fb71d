package dev.jepd.models.tiny;

import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.safetensors.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Ready-made tiny checkpoints for tests and the demo. */
public final class TinyModels {
    /** Makes a directory hold an architecture's tiny snapshot; returns the directory. */
    @FunctionalInterface
    public interface Fixture {
        Path ensure(Path dir) throws IOException;
    }

    /**
     * The tiny fixture of every architecture the registry implements, keyed like the registry (config.json
     * {@code architectures}); each writes the checkpoint the goldens were made from.
     */
    public static final Map<String, Fixture> BY_ARCHITECTURE = Map.of(
            "Qwen2_5_VLForConditionalGeneration",
            TinyModels::ensureGolden,
            dev.jepd.models.qwen2vl.Qwen2VlArchitecture.NAME,
            TinyQwen2VlWriter::ensure,
            dev.jepd.models.qwen3vl.Qwen3VlArchitecture.NAME,
            TinyQwen3VlWriter::ensure);

    private TinyModels() {}

    /**
     * Makes {@code dir} hold the golden tiny Qwen2.5-VL (byte-identical to shared/golden/tiny-qwen2.5-vl)
     * unless it already does: every file present and the weights of the expected size. Safe to call from
     * concurrent processes: each file is written to a temporary name and renamed, and all writers produce
     * the same bytes.
     */
    public static Path ensureGolden(Path dir) throws IOException {
        TinyQwen25VlWriter.Options golden = TinyQwen25VlWriter.Options.golden();
        if (isComplete(dir, golden)) {
            return dir;
        }
        return TinyQwen25VlWriter.write(dir, golden);
    }

    private static boolean isComplete(Path dir, TinyQwen25VlWriter.Options options) throws IOException {
        for (String f : TinyQwen25VlWriter.COPIED_FILES) {
            if (!Files.isRegularFile(dir.resolve(f))) {
                return false;
            }
        }
        Path weights = dir.resolve(Checkpoint.SINGLE);
        if (!Files.isRegularFile(dir.resolve(TinyQwen25VlWriter.CONFIG))
                || !Files.isRegularFile(weights)
                || Files.exists(dir.resolve(Checkpoint.INDEX))) {
            return false;
        }
        List<TensorSpec> tensors = TinyQwen25VlWriter.tensors(options);
        DType dtype = options.dtype();
        long expected =
                GeneratedSafetensors.header(tensors, dtype).length + GeneratedSafetensors.dataBytes(tensors, dtype);
        return Files.size(weights) == expected;
    }
}
