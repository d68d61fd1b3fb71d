package dev.jepd.models.qwen25vl;

import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.ModelLoadException;
import dev.jepd.engine.model.MultimodalModel;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.text.SpecialTokens;
import dev.jepd.media.ImageGrid;
import dev.jepd.models.ModelParts;
import dev.jepd.models.qwenvl.MropePositions;
import dev.jepd.models.qwenvl.QwenVlModel;
import dev.jepd.tensor.TensorBackend;
import java.io.IOException;
import java.util.List;

/** Qwen2_5_VLForConditionalGeneration: the vision tower, the M-RoPE Qwen2 decoder, and their glue. */
public final class Qwen25VlArchitecture extends QwenVlModel {
    private final Qwen25VlConfig config;

    private Qwen25VlArchitecture(Qwen25VlConfig config, Parts<Qwen25VisionTower> parts) {
        super(parts.vision(), parts.language());
        this.config = config;
    }

    public static MultimodalModel load(HfSnapshot snapshot, TensorBackend backend, ModelParts parts) {
        Qwen25VlConfig config;
        try {
            config = Qwen25VlConfig.fromJson(snapshot.config());
        } catch (IOException | IllegalArgumentException e) {
            throw new ModelLoadException(snapshot.dir() + "/config.json: " + e.getMessage(), e);
        }
        // The checkpoint's mapping lives only while the weights are copied into tensors.
        try (Checkpoint weights = Checkpoint.open(snapshot.dir())) {
            return new Qwen25VlArchitecture(
                    config,
                    Parts.load(
                            () -> parts.vision() ? new Qwen25VisionTower(backend, config, weights) : null,
                            () -> parts.language() ? Qwen25VlModel.decoder(backend, config, weights) : null));
        }
    }

    public Qwen25VlConfig config() {
        return config;
    }

    @Override
    public String architecture() {
        return "Qwen2_5_VLForConditionalGeneration";
    }

    @Override
    public SpecialTokens specialTokens() {
        return new SpecialTokens(config.imageTokenId(), config.visionStartTokenId(), config.visionEndTokenId());
    }

    @Override
    public int mergeSize() {
        return config.vision().spatialMergeSize();
    }

    @Override
    public PromptPositions positions(int[] ids, List<ImageGrid> grids) {
        return MropePositions.of(ids, grids, config.imageTokenId());
    }

    @Override
    public int maxPositionEmbeddings() {
        return config.maxPositionEmbeddings();
    }
}
