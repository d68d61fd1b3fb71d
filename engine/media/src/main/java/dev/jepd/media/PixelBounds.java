package dev.jepd.media;

import com.fasterxml.jackson.databind.JsonNode;

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

    /**
     * These bounds with {@code min_pixels} / {@code max_pixels} of an {@code mm_processor_kwargs} object laid
     * over them (the server's {@code --mm-processor-kwargs} over the preprocessor config, a request's over the
     * server's). Null or empty kwargs change nothing; non-positive values are an IllegalArgumentException.
     */
    public PixelBounds overriddenBy(JsonNode kwargs) {
        if (kwargs == null || kwargs.isNull() || kwargs.isEmpty()) {
            return this;
        }
        return new PixelBounds(
                // Long.valueOf, not a bare long: a ternary mixing long and a null Long unboxes the null.
                kwargs.has("min_pixels") ? Long.valueOf(kwargs.get("min_pixels").asLong()) : minPixels,
                kwargs.has("max_pixels") ? Long.valueOf(kwargs.get("max_pixels").asLong()) : maxPixels);
    }
}
