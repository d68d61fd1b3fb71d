package dev.jepd.media;

/**
 * Hugging Face's {@code smart_resize} ({@code transformers/models/qwen2_vl/image_processing_qwen2_vl.py},
 * checked against transformers 5.18.0): the size closest to (height, width) whose sides are multiples of
 * {@code factor} (patch × merge, 28 for Qwen2/2.5-VL) and whose area lies in [minPixels, maxPixels].
 *
 * <p>Every operation matches the Python one bit for bit: {@code round} is half-to-even
 * ({@link Math#rint}, so 42/28 = 1.5 rounds to 2 but 70/28 = 2.5 also to 2), the int/int divisions are
 * IEEE double divisions (exact for sizes below 2^53, as Python's true division), and
 * {@code beta = sqrt(...)} then floor/ceil. transformers 5.x no longer rejects sides below {@code factor}
 * (4.x raised a ValueError): a 1×1 image is scaled up to min_pixels like any other; a zero side is
 * rejected here because Python would divide by zero.
 */
public final class SmartResize {
    /** transformers' limit on max(h, w) / min(h, w). */
    public static final double MAX_ASPECT_RATIO = 200;

    private SmartResize() {}

    public static ImageSize resize(int height, int width, int factor, long minPixels, long maxPixels) {
        if (height <= 0 || width <= 0) {
            throw new MediaException(
                    MediaException.Reason.TOO_SMALL, "image size " + width + "x" + height + " has a zero side");
        }
        if (factor <= 0 || minPixels <= 0 || maxPixels < minPixels) {
            throw new IllegalArgumentException(
                    "smart_resize(factor=" + factor + ", min_pixels=" + minPixels + ", max_pixels=" + maxPixels + ")");
        }
        double ratio = (double) Math.max(height, width) / Math.min(height, width);
        if (ratio > MAX_ASPECT_RATIO) {
            throw new MediaException(
                    MediaException.Reason.BAD_ASPECT_RATIO,
                    "absolute aspect ratio must be smaller than 200, got " + ratio + " for a " + width + "x" + height
                            + " image");
        }
        long hBar = (long) Math.rint((double) height / factor) * factor;
        long wBar = (long) Math.rint((double) width / factor) * factor;
        if (hBar * wBar > maxPixels) {
            double beta = Math.sqrt((double) ((long) height * width) / maxPixels);
            hBar = Math.max(factor, (long) Math.floor(height / beta / factor) * factor);
            wBar = Math.max(factor, (long) Math.floor(width / beta / factor) * factor);
        } else if (hBar * wBar < minPixels) {
            double beta = Math.sqrt((double) minPixels / ((long) height * width));
            hBar = (long) Math.ceil(height * beta / factor) * factor;
            wBar = (long) Math.ceil(width * beta / factor) * factor;
        }
        if (hBar > Integer.MAX_VALUE || wBar > Integer.MAX_VALUE) {
            throw new MediaException(
                    MediaException.Reason.TOO_LARGE, "resized size " + wBar + "x" + hBar + " is out of range");
        }
        return new ImageSize((int) hBar, (int) wBar);
    }
}
