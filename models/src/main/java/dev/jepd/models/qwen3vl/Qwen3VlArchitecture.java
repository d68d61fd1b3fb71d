package dev.jepd.models.qwen3vl;

import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.ModelLoadException;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.text.QwenChatTemplate;
import dev.jepd.engine.text.SpecialTokens;
import dev.jepd.media.ImageGrid;
import dev.jepd.models.ModelParts;
import dev.jepd.models.qwen2.Qwen2Decoder;
import dev.jepd.models.qwenvl.MropePositions;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import dev.jepd.models.qwenvl.QwenVlModel;
import dev.jepd.tensor.TensorBackend;
import java.io.IOException;
import java.util.List;

/**
 * Qwen3VLForConditionalGeneration (dense): its vision tower with DeepStack, and the Qwen2 decoder in its Qwen3
 * form (q/k norms, no q/k/v bias, interleaved M-RoPE, DeepStack additions). The encoder's rows are vLLM's EC
 * layout, {@code [out_hidden × (1 + levels)]}; the decoder splits them. Prompt positions are Qwen2-VL's
 * ({@link MropePositions}): for still images transformers' Qwen3-VL {@code get_rope_index} gives the same
 * (t, row, col) offsets and advances by {@code max(h, w) / merge}; the two differ only for video.
 */
public final class Qwen3VlArchitecture extends QwenVlModel {
    public static final String NAME = "Qwen3VLForConditionalGeneration";

    private final Qwen3VlConfig config;

    private Qwen3VlArchitecture(Qwen3VlConfig config, Parts<Qwen3VisionTower> parts) {
        super(parts.vision(), parts.language());
        this.config = config;
    }

    public static dev.jepd.engine.model.MultimodalModel load(
            HfSnapshot snapshot, TensorBackend backend, ModelParts parts) {
        Qwen3VlConfig config;
        try {
            config = Qwen3VlConfig.fromJson(snapshot.config());
        } catch (IOException | IllegalArgumentException e) {
            throw new ModelLoadException(snapshot.dir() + "/config.json: " + e.getMessage(), e);
        }
        // The checkpoint's mapping lives only while the weights are copied into tensors.
        try (Checkpoint weights = Checkpoint.open(snapshot.dir())) {
            return new Qwen3VlArchitecture(
                    config,
                    Parts.load(
                            () -> parts.vision() ? new Qwen3VisionTower(backend, config, weights) : null,
                            () -> parts.language()
                                    ? new Qwen2Decoder(
                                            backend, config.textParams(), weights, QwenVlCheckpoint.languageLoader())
                                    : null));
        }
    }

    public Qwen3VlConfig config() {
        return config;
    }

    @Override
    public String architecture() {
        return NAME;
    }

    @Override
    public SpecialTokens specialTokens() {
        return new SpecialTokens(config.imageTokenId(), config.visionStartTokenId(), config.visionEndTokenId());
    }

    /** Qwen3-VL's Instruct template: no default system prompt. */
    @Override
    public QwenChatTemplate chatTemplate() {
        return QwenChatTemplate.QWEN3_VL;
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
        return config.text().maxPositionEmbeddings();
    }
}
