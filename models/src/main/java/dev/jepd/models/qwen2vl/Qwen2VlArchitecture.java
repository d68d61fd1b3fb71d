package dev.jepd.models.qwen2vl;

import dev.jepd.engine.model.CausalLm;
import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.ModelLoadException;
import dev.jepd.engine.model.MultimodalModel;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.model.VisionEncoder;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.text.SpecialTokens;
import dev.jepd.media.ImageGrid;
import dev.jepd.models.ModelParts;
import dev.jepd.models.qwen2.Qwen2Decoder;
import dev.jepd.models.qwen25vl.Qwen25VlModel;
import dev.jepd.models.qwenvl.MropePositions;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import dev.jepd.tensor.TensorBackend;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * Qwen2VLForConditionalGeneration: its own vision tower, and the same M-RoPE Qwen2 decoder, positions and
 * chat template as Qwen2.5-VL (images only: the two differ in video timing, which JEPD does not serve).
 */
public final class Qwen2VlArchitecture implements MultimodalModel {
    public static final String NAME = "Qwen2VLForConditionalGeneration";

    private final Qwen2VlConfig config;
    private final Qwen2VisionTower vision;
    private final Qwen2Decoder language;

    private Qwen2VlArchitecture(Qwen2VlConfig config, Qwen2VisionTower vision, Qwen2Decoder language) {
        this.config = config;
        this.vision = vision;
        this.language = language;
    }

    public static MultimodalModel load(HfSnapshot snapshot, TensorBackend backend, ModelParts parts) {
        Qwen2VlConfig config;
        try {
            config = Qwen2VlConfig.fromJson(snapshot.config());
        } catch (IOException | IllegalArgumentException e) {
            throw new ModelLoadException(snapshot.dir() + "/config.json: " + e.getMessage(), e);
        }
        try (Checkpoint weights = Checkpoint.open(snapshot.dir())) {
            Qwen2VisionTower tower = parts.vision() ? new Qwen2VisionTower(backend, config, weights) : null;
            try {
                Qwen2Decoder decoder = parts.language()
                        ? new Qwen2Decoder(
                                backend,
                                Qwen25VlModel.textParams(config.text()),
                                weights,
                                QwenVlCheckpoint.languageLoader())
                        : null;
                return new Qwen2VlArchitecture(config, tower, decoder);
            } catch (RuntimeException e) {
                if (tower != null) {
                    tower.close();
                }
                throw e;
            }
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
    public Optional<VisionEncoder> vision() {
        return Optional.ofNullable(vision);
    }

    @Override
    public Optional<CausalLm> language() {
        return Optional.ofNullable(language);
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

    @Override
    public void close() {
        if (vision != null) {
            vision.close();
        }
        if (language != null) {
            language.close();
        }
    }
}
