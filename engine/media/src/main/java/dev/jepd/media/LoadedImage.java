package dev.jepd.media;

/**
 * An image as a request delivered it: the original encoded {@code bytes} (hashed for the encoder-cache
 * key, so never re-encoded), the decoded RGB, and whether PIL opened the bytes in a mode other than {@code RGB}
 * ({@code P}, {@code RGBA}, {@code L}, {@code CMYK} ...), which vLLM's image loader then converts: vLLM from PR
 * #49975 on hashes such an image with its conversion settings ({@code MediaWithBytes.io_config}), not by its bytes
 * alone.
 */
public record LoadedImage(byte[] bytes, RgbImage image, boolean convertedToRgb) {}
