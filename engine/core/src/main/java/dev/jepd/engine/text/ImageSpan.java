package dev.jepd.engine.text;

/**
 * Where one image's embedding rows go in the prompt: the expanded {@code <|image_pad|>} run of
 * {@code length} tokens starting at {@code start}.
 *
 * @param imageIndex the {@link ContentPart.Image#index()} of the image
 */
public record ImageSpan(int imageIndex, int start, int length) {
    public ImageSpan {
        if (imageIndex < 0 || start < 0 || length < 1) {
            throw new IllegalArgumentException("bad image span " + imageIndex + ": [" + start + ", +" + length + ")");
        }
    }

    /** One past the last token of the span. */
    public int end() {
        return start + length;
    }
}
