package dev.jepd.engine.model;

import dev.jepd.engine.text.QwenChatTemplate;
import dev.jepd.engine.text.SpecialTokens;
import dev.jepd.media.ImageGrid;
import java.util.List;
import java.util.Optional;

/**
 * A loaded architecture: its vision tower and/or language model (an encoder-only node loads no language
 * model), the special tokens its prompts use, and its rotary position rule for multimodal prompts.
 */
public interface MultimodalModel extends AutoCloseable {
    String architecture();

    Optional<VisionEncoder> vision();

    Optional<CausalLm> language();

    SpecialTokens specialTokens();

    /** The chat template its prompts are rendered with (Qwen2-VL / Qwen2.5-VL's unless the model says). */
    default QwenChatTemplate chatTemplate() {
        return QwenChatTemplate.DEFAULT;
    }

    /** The vision tower's spatial merge size (tokens per image = t·h·w / merge²). */
    int mergeSize();

    /** Positions of a prompt whose image pads are expanded, images in prompt order. */
    PromptPositions positions(int[] ids, List<ImageGrid> grids);

    /** Longest sequence the model supports (config {@code max_position_embeddings}). */
    int maxPositionEmbeddings();

    @Override
    void close();
}
