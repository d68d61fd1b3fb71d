package dev.jepd.media;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The vision geometry of each Qwen-VL model family, in one place: what an image costs in tokens and how its
 * pixels are cut. The processor's defaults ({@link PreprocessorConfig#defaults()}, and the values a
 * {@code preprocessor_config.json} leaves out) and the proxy's image-token cost ({@code --model-family}) both
 * come from here.
 *
 * <p>Numbers as in Hugging Face's image processors and the families' {@code preprocessor_config.json}:
 * Qwen2-VL and Qwen2.5-VL cut 14-pixel patches and merge 2×2 of them (one token per 28×28 pixels, HF's
 * {@code Qwen2VLImageProcessor} class defaults: 56×56 to 28×28×1280 pixels, CLIP mean/std); Qwen3-VL cuts
 * 16-pixel patches (one token per 32×32 pixels, 256×256 to 4096×4096 pixels, mean/std 0.5). All repeat a
 * still image over a temporal patch of 2 frames.
 */
public enum ModelFamily {
    QWEN2_VL(
            "qwen2-vl", 14, 2, 2, 56L * 56, 28L * 28 * 1280, PreprocessorConfig.CLIP_MEAN, PreprocessorConfig.CLIP_STD),
    QWEN2_5_VL(
            "qwen2.5-vl",
            14,
            2,
            2,
            56L * 56,
            28L * 28 * 1280,
            PreprocessorConfig.CLIP_MEAN,
            PreprocessorConfig.CLIP_STD),
    QWEN3_VL("qwen3-vl", 16, 2, 2, 256L * 256, 4096L * 4096, List.of(0.5, 0.5, 0.5), List.of(0.5, 0.5, 0.5));

    /** The family whose numbers are HF's class defaults, used where a config leaves a value out. */
    public static final ModelFamily DEFAULT = QWEN2_5_VL;

    private final String flag;
    private final int patchSize;
    private final int mergeSize;
    private final int temporalPatchSize;
    private final long minPixels;
    private final long maxPixels;
    private final List<Double> imageMean;
    private final List<Double> imageStd;

    ModelFamily(
            String flag,
            int patchSize,
            int mergeSize,
            int temporalPatchSize,
            long minPixels,
            long maxPixels,
            List<Double> imageMean,
            List<Double> imageStd) {
        this.flag = flag;
        this.patchSize = patchSize;
        this.mergeSize = mergeSize;
        this.temporalPatchSize = temporalPatchSize;
        this.minPixels = minPixels;
        this.maxPixels = maxPixels;
        this.imageMean = imageMean;
        this.imageStd = imageStd;
    }

    /** The name on the command line, e.g. {@code qwen2.5-vl}. */
    public String flag() {
        return flag;
    }

    /** Side of one vision patch in pixels. */
    public int patchSize() {
        return patchSize;
    }

    /** Patches merged per side into one token (spatial merge). */
    public int mergeSize() {
        return mergeSize;
    }

    /** Frames per temporal patch; a still image is repeated this many times. */
    public int temporalPatchSize() {
        return temporalPatchSize;
    }

    public long minPixels() {
        return minPixels;
    }

    public long maxPixels() {
        return maxPixels;
    }

    public List<Double> imageMean() {
        return imageMean;
    }

    public List<Double> imageStd() {
        return imageStd;
    }

    /** The image factor: one token covers factor × factor pixels (28 for Qwen2/2.5-VL, 32 for Qwen3-VL). */
    public int factor() {
        return patchSize * mergeSize;
    }

    /** The family's preprocessor settings, as its {@code preprocessor_config.json} would give them. */
    public PreprocessorConfig preprocessorDefaults() {
        return new PreprocessorConfig(
                minPixels,
                maxPixels,
                null,
                patchSize,
                temporalPatchSize,
                mergeSize,
                imageMean,
                imageStd,
                null,
                null,
                null,
                null,
                null);
    }

    /** The family named {@code flag} ({@code qwen2-vl}, {@code qwen2.5-vl}, {@code qwen3-vl}). */
    public static ModelFamily parse(String flag) {
        String v = flag.strip().toLowerCase(Locale.ROOT);
        for (ModelFamily f : values()) {
            if (f.flag.equals(v)) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown model family '" + flag + "'; accepted: " + flags());
    }

    /** The accepted names, comma-separated. */
    public static String flags() {
        return Arrays.stream(values()).map(ModelFamily::flag).collect(Collectors.joining(", "));
    }
}
