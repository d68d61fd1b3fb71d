package dev.jepd.media;

/**
 * An image as a request delivered it: the original encoded {@code bytes} (hashed for the encoder-cache
 * key, so never re-encoded) and the decoded RGB.
 */
public record LoadedImage(byte[] bytes, RgbImage image) {}
