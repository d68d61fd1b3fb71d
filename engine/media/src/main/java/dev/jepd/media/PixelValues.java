package dev.jepd.media;

/**
 * The processor output for one image: {@code data} is {@code [gridT * gridH * gridW, C * tp * p * p]}
 * row-major float32, patches ordered so that each merge × merge group is contiguous (DESIGN §5.2), as HF's
 * {@code pixel_values}; the grid is HF's {@code image_grid_thw} row, in patches.
 */
public record PixelValues(float[] data, int gridT, int gridH, int gridW) {
    public PixelValues {
        long patches = (long) gridT * gridH * gridW;
        if (patches <= 0 || data.length % patches != 0) {
            throw new IllegalArgumentException(
                    data.length + " values do not split into " + gridT + "x" + gridH + "x" + gridW + " patches");
        }
    }

    public int numPatches() {
        return gridT * gridH * gridW;
    }

    /** Values per patch: channels × temporal patch × patch × patch (1176 for Qwen2.5-VL). */
    public int patchDim() {
        return data.length / numPatches();
    }

    /** The image tokens the model sees after the merger: one per merge × merge patches. */
    public int numMergedTokens(int mergeSize) {
        return numPatches() / (mergeSize * mergeSize);
    }

    @Override
    public String toString() {
        return "PixelValues[grid=(" + gridT + ", " + gridH + ", " + gridW + "), " + numPatches() + "x" + patchDim()
                + "]";
    }
}
