package dev.jepd.models.golden;

import dev.jepd.models.tiny.TinyModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * The golden tiny checkpoint for tests, written by the deterministic generator (byte-identical to the
 * fixture's, which TinyQwen25VlWriterTest pins by sha256) into the build directory.
 */
public final class GoldenModel {
    private GoldenModel() {}

    public static synchronized Path dir() {
        try {
            return TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
