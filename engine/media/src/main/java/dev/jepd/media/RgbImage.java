package dev.jepd.media;

/**
 * An 8-bit RGB image, row-major and interleaved: {@code rgb[(y * width + x) * 3 + c]} (HWC, as numpy's
 * {@code np.asarray(pil_image)}). The array is shared, not copied; nothing in this package mutates it.
 */
public record RgbImage(int width, int height, byte[] rgb) {
    public RgbImage {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size " + width + "x" + height);
        }
        if (rgb.length != (long) width * height * 3) {
            throw new IllegalArgumentException("rgb has " + rgb.length + " bytes, " + width + "x" + height + "x3 needs "
                    + (long) width * height * 3);
        }
    }

    /** Channel {@code c} (0 = R) of pixel (x, y), 0..255. */
    public int sample(int x, int y, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xFF;
    }

    @Override
    public String toString() {
        return "RgbImage[" + width + "x" + height + "]";
    }
}
