package dev.jepd.media;

/**
 * What an image of a given size costs, known before any pixel is decoded: the resized size, the patch
 * grid (HF's {@code image_grid_thw}) and the image tokens after the merger. vLLM computes the same from
 * {@code get_number_of_image_patches} to budget a request.
 */
public record ImageGrid(ImageSize resized, int gridT, int gridH, int gridW, int mergeSize) {
    public int numPatches() {
        return gridT * gridH * gridW;
    }

    public int numTokens() {
        return numPatches() / (mergeSize * mergeSize);
    }
}
