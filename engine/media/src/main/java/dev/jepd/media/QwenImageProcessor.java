package dev.jepd.media;

/**
 * Hugging Face's slow {@code Qwen2VLImageProcessor} (the PIL backend, as vLLM runs it) on one RGB image:
 * {@code smart_resize} to multiples of patch × merge, PIL bicubic resize if the size changes, rescale,
 * normalise, repeat the frame {@code temporal_patch_size} times, and cut into patches in the order of
 * DESIGN §5.2: {@code (gh/m, gw/m, m, m)} patches of {@code (C, tp, p, p)} values.
 *
 * <p>The arithmetic follows numpy's dtypes: HF rescales in float64 ({@code image.astype(float64) * scale})
 * and casts to float32, then normalises in float32 with mean and std cast to float32
 * ({@code (x - mean) / std}). Each uint8 value therefore maps to exactly one float per channel; a
 * 256-entry table per channel built with the same casts gives bit-identical pixel values.
 *
 * <p>Immutable and thread-safe.
 */
public final class QwenImageProcessor {
    private static final int CHANNELS = 3;

    private final PreprocessorConfig config;
    private final float[][] lut = new float[CHANNELS][256]; // [channel][uint8] -> normalised float32

    public QwenImageProcessor(PreprocessorConfig config) {
        if (!config.doResize()) {
            throw new IllegalArgumentException("do_resize=false is not supported: Qwen-VL always smart-resizes");
        }
        this.config = config;
        for (int c = 0; c < CHANNELS; c++) {
            float mean = (float) (double) config.imageMean().get(c);
            float std = (float) (double) config.imageStd().get(c);
            for (int v = 0; v < 256; v++) {
                float x = config.doRescale() ? (float) (v * config.rescaleFactor()) : (float) v;
                lut[c][v] = config.doNormalize() ? (x - mean) / std : x;
            }
        }
    }

    public PreprocessorConfig config() {
        return config;
    }

    /** The grid and token count for an image of {@code height × width}, without its pixels. */
    public ImageGrid grid(int height, int width) {
        return grid(height, width, PixelBounds.NONE);
    }

    public ImageGrid grid(int height, int width, PixelBounds bounds) {
        ImageSize resized = resize(height, width, bounds);
        int p = config.patchSize();
        return new ImageGrid(1, resized.height() / p, resized.width() / p, config.mergeSize());
    }

    /** The size an image of {@code height × width} is resized to (HF's {@code smart_resize}) within the bounds. */
    public ImageSize resize(int height, int width, PixelBounds bounds) {
        long min = bounds.minPixels() != null ? bounds.minPixels() : config.minPixels();
        long max = bounds.maxPixels() != null ? bounds.maxPixels() : config.maxPixels();
        if (max < min) {
            throw new IllegalArgumentException("max_pixels " + max + " is below min_pixels " + min);
        }
        return SmartResize.resize(height, width, config.factor(), min, max);
    }

    public PixelValues process(RgbImage image) {
        return process(image, PixelBounds.NONE);
    }

    public PixelValues process(RgbImage image, PixelBounds bounds) {
        ImageGrid grid = grid(image.height(), image.width(), bounds);
        ImageSize size = resize(image.height(), image.width(), bounds);
        RgbImage resized = BicubicResize.resize(image, size.width(), size.height());
        int p = config.patchSize();
        int m = config.mergeSize();
        int tp = config.temporalPatchSize();
        int width = resized.width();
        byte[] rgb = resized.rgb(); // [H, W, 3]
        int planeSize = p * p;
        int patchDim = CHANNELS * tp * planeSize;
        long total = (long) grid.numPatches() * patchDim;
        if (total > Integer.MAX_VALUE - 16) {
            throw new MediaException(
                    MediaException.Reason.TOO_LARGE, grid.numPatches() + " patches do not fit one float array");
        }
        float[] data = new float[(int) total]; // [gh*gw, C*tp*p*p]
        int patch = 0;
        for (int bh = 0; bh < grid.gridH() / m; bh++) {
            for (int bw = 0; bw < grid.gridW() / m; bw++) {
                for (int mh = 0; mh < m; mh++) {
                    for (int mw = 0; mw < m; mw++, patch++) {
                        int y0 = (bh * m + mh) * p;
                        int x0 = (bw * m + mw) * p;
                        int base = patch * patchDim;
                        for (int c = 0; c < CHANNELS; c++) {
                            float[] table = lut[c];
                            int plane = base + c * tp * planeSize; // frame t = 0 of channel c: [p, p]
                            for (int ph = 0; ph < p; ph++) {
                                int src = ((y0 + ph) * width + x0) * CHANNELS + c;
                                int dst = plane + ph * p;
                                for (int pw = 0; pw < p; pw++) {
                                    data[dst + pw] = table[rgb[src + pw * CHANNELS] & 0xFF];
                                }
                            }
                            // An image is one frame repeated temporal_patch_size times.
                            for (int t = 1; t < tp; t++) {
                                System.arraycopy(data, plane, data, plane + t * planeSize, planeSize);
                            }
                        }
                    }
                }
            }
        }
        return new PixelValues(data, grid.gridT(), grid.gridH(), grid.gridW());
    }
}
