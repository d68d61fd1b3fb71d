package dev.jepd.engine.generate;

import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.ImageSpan;
import dev.jepd.engine.text.StopConditions;
import java.util.List;

/**
 * A prompt ready to run: ids with image pads expanded, where each image's rows go, the image embeddings
 * (one float[tokens × hidden] per image, from the EC or the local vision tower) and the positions.
 */
public record GenerationRequest(
        String id,
        int[] promptIds,
        List<ImageSpan> spans,
        List<float[]> imageEmbeddings,
        PromptPositions positions,
        SamplingParams sampling,
        StopConditions stop) {
    public GenerationRequest {
        if (spans.size() != imageEmbeddings.size()) {
            throw new IllegalArgumentException(
                    spans.size() + " image spans but " + imageEmbeddings.size() + " embeddings");
        }
        if (positions.length() != promptIds.length) {
            throw new IllegalArgumentException(
                    "positions for " + positions.length() + " tokens, prompt has " + promptIds.length);
        }
    }
}
