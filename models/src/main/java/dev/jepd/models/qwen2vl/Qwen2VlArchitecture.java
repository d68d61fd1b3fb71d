package dev.jepd.models.qwen2vl;

import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.ModelLoadException;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.text.SpecialTokens;
import dev.jepd.media.ImageGrid;
import dev.jepd.models.ModelParts;
import dev.jepd.models.qwen2.Qwen2Decoder;
import dev.jepd.models.qwen25vl.Qwen25VlModel;
import dev.jepd.models.qwenvl.MropePositions;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import dev.jepd.models.qwenvl.QwenVlModel;
import dev.jepd.tensor.TensorBackend;
import java.io.IOException;
import java.util.List;

/**
 * Qwen2VLForConditionalGeneration: its own vision tower, and the same M-RoPE Qwen2 decoder, positions and
 * chat template as Qwen2.5-VL (images only: the two differ in video timing, which JEPD does not serve).
 */
public final class Qwen2VlArchitecture extends QwenVlModel {
    public static final String NAME = "Qwen2VLForConditionalGeneration";

    private final Qwen2VlConfig config;

    private Qwen2VlArchitecture(Qwen2VlConfig config, Parts<Qwen2VisionTower> parts) {
        super(parts.vision(), parts.language());
        this.config = config;
    }

    public static dev.jepd.engine.model.MultimodalModel load(
            HfSnapshot snapshot, TensorBackend backend, ModelParts parts) {
        Qwen2VlConfig config;
        try {
            config = Qwen2VlConfig.fromJson(snapshot.config());
        } catch (IOException | IllegalArgumentException e) {
            throw new ModelLoadException(snapshot.dir() + "/config.json: " + e.getMessage(), e);
        }
        try (Checkpoint weights = Checkpoint.open(snapshot.dir())) {
            return new Qwen2VlArchitecture(
                    config,
                    Parts.load(
                            () -> parts.vision() ? new Qwen2VisionTower(backend, config, weights) : null,
                            () -> parts.language()
                                    ? new Qwen2Decoder(
                                            backend,
                                            Qwen25VlModel.textParams(config.text()),
                                            weights,
                                            QwenVlCheckpoint.languageLoader())
                                    : null));
        }
    }

    public Qwen2VlConfig config() {
        return config;
    }

    @Override
    public String architecture() {
        return NAME;
    }

    @Override
    public SpecialTokens specialTokens() {
        var t = config.text();
        return new SpecialTokens(t.imageTokenId(), t.visionStartTokenId(), t.visionEndTokenId());
    }

    @Override
    public int mergeSize() {
        return config.vision().spatialMergeSize();
    }

    @Override
    public PromptPositions positions(int[] ids, List<ImageGrid> grids) {
        return MropePositions.of(ids, grids, config.text().imageTokenId());
    }

    @Override
    public int maxPositionEmbeddings() {
        return config.text().maxPositionEmbeddings();
    }
}
