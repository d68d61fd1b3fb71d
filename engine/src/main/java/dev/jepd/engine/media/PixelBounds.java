package dev.jepd.engine.media;

/**
 * Per-request overrides of the resize bounds (vLLM's {@code mm_processor_kwargs}
 * {@code {"min_pixels": ..., "max_pixels": ...}}); a null field keeps the preprocessor config's value.
 */
public record PixelBounds(Long minPixels, Long maxPixels) {
    public static final PixelBounds NONE = new PixelBounds(null, null);

    public PixelBounds {
        if ((minPixels != null && minPixels <= 0) || (maxPixels != null && maxPixels <= 0)) {
            throw new IllegalArgumentException(
                    "min_pixels and max_pixels must be positive: " + minPixels + ", " + maxPixels);
        }
    }
}
