package dev.jepd.media;

/**
 * An image's patch grid (HF's {@code image_grid_thw}) and the vision tower's spatial merge size: what it
 * costs, known before any pixel is decoded (tokens = t·h·w / merge²). vLLM computes the same from
 * {@code get_number_of_image_patches} to budget a request. The one grid type of the processor, the
 * nodes and the models.
 */
public record ImageGrid(int gridT, int gridH, int gridW, int mergeSize) {
    public int numPatches() {
        return gridT * gridH * gridW;
    }

    public int numTokens() {
        return numPatches() / (mergeSize * mergeSize);
    }
}
