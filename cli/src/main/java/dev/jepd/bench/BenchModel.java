package dev.jepd.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.models.qwen2.Qwen2TextParams;
import dev.jepd.models.qwen25vl.Qwen25VlConfig;
import dev.jepd.models.qwen25vl.Qwen25VlModel;
import dev.jepd.models.qwen2vl.Qwen2VlArchitecture;
import dev.jepd.models.qwen2vl.Qwen2VlConfig;
import dev.jepd.models.qwen3vl.Qwen3VlArchitecture;
import dev.jepd.models.qwen3vl.Qwen3VlConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * What {@code jepd bench model} counts, read from the config.json of any family it benches (Qwen2.5-VL, Qwen2-VL,
 * Qwen3-VL): the decoder's sizes as the decoder itself takes them ({@link Qwen2TextParams}), and the vision
 * tower's, with what differs between the families as data (gated or plain MLP, windowed blocks, DeepStack
 * mergers).
 */
public record BenchModel(String architecture, Qwen2TextParams text, Vision vision) {
    public static final String QWEN25_VL = "Qwen2_5_VLForConditionalGeneration";

    /**
     * The vision tower's sizes.
     *
     * @param mlpWidth the MLP's inner width
     * @param gatedMlp three MLP matrices (gate, up, down: Qwen2.5-VL) rather than two (fc1, fc2)
     * @param windowSize pixels per attention window side, 0 when every block attends over the whole frame
     * @param fullAttentionBlocks the blocks with full attention when {@code windowSize > 0}
     * @param deepstack the blocks after which a DeepStack merger runs (Qwen3-VL), in level order
     */
    public record Vision(
            int depth,
            int hidden,
            int heads,
            int mlpWidth,
            boolean gatedMlp,
            int patchDim,
            int patchSize,
            int spatialMergeSize,
            int outHidden,
            int windowSize,
            int[] fullAttentionBlocks,
            int[] deepstack) {
        public boolean windowed() {
            return windowSize > 0;
        }

        public boolean isFullAttention(int block) {
            return !windowed() || Arrays.stream(fullAttentionBlocks).anyMatch(b -> b == block);
        }

        public int mergeUnit() {
            return spatialMergeSize * spatialMergeSize;
        }

        /** The main merger and the DeepStack ones. */
        public int mergers() {
            return 1 + deepstack.length;
        }

        public int fullAttentionCount() {
            int n = 0;
            for (int b = 0; b < depth; b++) {
                n += isFullAttention(b) ? 1 : 0;
            }
            return n;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    public static BenchModel read(Path configJson) {
        try {
            return of(JSON.readTree(configJson.toFile()));
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + configJson, e);
        }
    }

    /** From a config.json's tree; refuses an architecture the bench does not count. */
    public static BenchModel of(JsonNode config) throws IOException {
        String arch = config.path("architectures").path(0).asText("");
        return switch (arch) {
            case QWEN25_VL -> of(Qwen25VlConfig.fromJson(config));
            case Qwen2VlArchitecture.NAME -> of(Qwen2VlConfig.fromJson(config));
            case Qwen3VlArchitecture.NAME -> of(Qwen3VlConfig.fromJson(config));
            default ->
                throw new IllegalArgumentException("bench model counts the work of " + QWEN25_VL + ", "
                        + Qwen2VlArchitecture.NAME + " and " + Qwen3VlArchitecture.NAME + "; this config is '" + arch
                        + "'");
        };
    }

    public static BenchModel of(Qwen25VlConfig c) {
        Qwen25VlConfig.VisionConfig v = c.vision();
        return new BenchModel(
                QWEN25_VL,
                Qwen25VlModel.textParams(c),
                new Vision(
                        v.depth(),
                        v.hiddenSize(),
                        v.numHeads(),
                        v.intermediateSize(),
                        true,
                        v.patchDim(),
                        v.patchSize(),
                        v.spatialMergeSize(),
                        v.outHiddenSize(),
                        v.windowSize(),
                        v.fullAttBlockIndexes().clone(),
                        new int[0]));
    }

    public static BenchModel of(Qwen2VlConfig c) {
        Qwen2VlConfig.Vision v = c.vision();
        return new BenchModel(
                Qwen2VlArchitecture.NAME,
                Qwen25VlModel.textParams(c.text()),
                new Vision(
                        v.depth(),
                        v.embedDim(),
                        v.numHeads(),
                        v.mlpDim(),
                        false,
                        v.patchDim(),
                        v.patchSize(),
                        v.spatialMergeSize(),
                        v.outHiddenSize(),
                        0,
                        new int[0],
                        new int[0]));
    }

    public static BenchModel of(Qwen3VlConfig c) {
        Qwen3VlConfig.Vision v = c.vision();
        return new BenchModel(
                Qwen3VlArchitecture.NAME,
                c.textParams(),
                new Vision(
                        v.depth(),
                        v.hiddenSize(),
                        v.numHeads(),
                        v.intermediateSize(),
                        false,
                        v.patchDim(),
                        v.patchSize(),
                        v.spatialMergeSize(),
                        v.outHiddenSize(),
                        0,
                        new int[0],
                        v.deepstackVisualIndexes().clone()));
    }
}
