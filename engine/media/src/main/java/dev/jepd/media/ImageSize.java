package dev.jepd.media;

/** A height and a width in pixels, in that order, as Hugging Face passes them around. */
public record ImageSize(int height, int width) {
    public long pixels() {
        return (long) height * width;
    }
}
