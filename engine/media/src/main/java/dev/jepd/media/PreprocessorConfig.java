package dev.jepd.media;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A Qwen-VL {@code preprocessor_config.json}. Absent keys take Hugging Face's
 * {@code Qwen2VLImageProcessor} class defaults ({@link ModelFamily#DEFAULT}). The pixel bounds may be spelled {@code min_pixels} /
 * {@code max_pixels} or, as newer checkpoints and transformers 5 write them,
 * {@code size: {shortest_edge, longest_edge}}; as in HF's constructor, explicit {@code min_pixels} /
 * {@code max_pixels} win over {@code size}. The compact constructor resolves all of that once, so every
 * accessor returns the value in force.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record PreprocessorConfig(
        @JsonProperty("min_pixels") Long minPixels,
        @JsonProperty("max_pixels") Long maxPixels,
        @JsonProperty("size") Size size,
        @JsonProperty("patch_size") Integer patchSize,
        @JsonProperty("temporal_patch_size") Integer temporalPatchSize,
        @JsonProperty("merge_size") Integer mergeSize,
        @JsonProperty("image_mean") List<Double> imageMean,
        @JsonProperty("image_std") List<Double> imageStd,
        @JsonProperty("rescale_factor") Double rescaleFactor,
        @JsonProperty("do_resize") Boolean doResize,
        @JsonProperty("do_rescale") Boolean doRescale,
        @JsonProperty("do_normalize") Boolean doNormalize,
        @JsonProperty("do_convert_rgb") Boolean doConvertRgb) {

    /** {@code OPENAI_CLIP_MEAN}, HF's default {@code image_mean}. */
    public static final List<Double> CLIP_MEAN = List.of(0.48145466, 0.4578275, 0.40821073);
    /** {@code OPENAI_CLIP_STD}, HF's default {@code image_std}. */
    public static final List<Double> CLIP_STD = List.of(0.26862954, 0.26130258, 0.27577711);

    /** The newer spelling of the pixel bounds. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Size(
            @JsonProperty("shortest_edge") Long shortestEdge,
            @JsonProperty("longest_edge") Long longestEdge) {}

    public PreprocessorConfig {
        minPixels = minPixels != null
                ? minPixels
                : size != null && size.shortestEdge() != null ? size.shortestEdge() : ModelFamily.DEFAULT.minPixels();
        maxPixels = maxPixels != null
                ? maxPixels
                : size != null && size.longestEdge() != null ? size.longestEdge() : ModelFamily.DEFAULT.maxPixels();
        size = new Size(minPixels, maxPixels);
        patchSize = patchSize != null ? patchSize : ModelFamily.DEFAULT.patchSize();
        temporalPatchSize = temporalPatchSize != null ? temporalPatchSize : ModelFamily.DEFAULT.temporalPatchSize();
        mergeSize = mergeSize != null ? mergeSize : ModelFamily.DEFAULT.mergeSize();
        imageMean = imageMean != null ? List.copyOf(imageMean) : ModelFamily.DEFAULT.imageMean();
        imageStd = imageStd != null ? List.copyOf(imageStd) : ModelFamily.DEFAULT.imageStd();
        rescaleFactor = rescaleFactor != null ? rescaleFactor : 1 / 255.0;
        doResize = doResize == null || doResize;
        doRescale = doRescale == null || doRescale;
        doNormalize = doNormalize == null || doNormalize;
        doConvertRgb = doConvertRgb == null || doConvertRgb;
        if (imageMean.size() != 3 || imageStd.size() != 3) {
            throw new IllegalArgumentException(
                    "image_mean and image_std need 3 values (RGB), got " + imageMean + " and " + imageStd);
        }
        if (patchSize <= 0 || temporalPatchSize <= 0 || mergeSize <= 0 || minPixels <= 0 || maxPixels < minPixels) {
            throw new IllegalArgumentException("invalid preprocessor config: patch_size=" + patchSize
                    + " temporal_patch_size=" + temporalPatchSize + " merge_size=" + mergeSize + " min_pixels="
                    + minPixels + " max_pixels=" + maxPixels);
        }
    }

    /** The Qwen2/2.5-VL defaults ({@link ModelFamily#DEFAULT}: patch 14, merge 2, temporal 2, CLIP mean/std). */
    public static PreprocessorConfig defaults() {
        return ModelFamily.DEFAULT.preprocessorDefaults();
    }

    public static PreprocessorConfig read(Path path) {
        try (InputStream in = Files.newInputStream(path)) {
            return read(in);
        } catch (IOException e) {
            throw new IllegalArgumentException(path + ": cannot read preprocessor config (" + e.getMessage() + ")", e);
        }
    }

    public static PreprocessorConfig read(InputStream in) throws IOException {
        return new ObjectMapper().readValue(in, PreprocessorConfig.class);
    }

    /** The side multiple that {@link SmartResize} rounds to: one merged token is factor × factor pixels. */
    public int factor() {
        return patchSize * mergeSize;
    }
}
