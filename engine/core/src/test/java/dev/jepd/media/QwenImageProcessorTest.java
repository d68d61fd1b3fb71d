package dev.jepd.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.jepd.engine.safetensors.SafetensorsFile;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class QwenImageProcessorTest {
    private static final QwenImageProcessor QWEN25 = new QwenImageProcessor(PreprocessorConfig.defaults());

    /** Qwen2VLImageProcessorPil outputs for an upscale to min_pixels: bit-identical floats. */
    @Test
    void upscaleToMinPixelsMatchesHuggingFace() {
        RgbImage image = new ImageDecoder().decode(MediaResources.bytes("decode/png_rgb8.png")); // 23x17
        assertMatches("small_23x17_min_pixels", QWEN25.process(image, new PixelBounds(3136L, 12845056L)));
    }

    /** A per-request max_pixels (vLLM mm_processor_kwargs) forcing a downscale. */
    @Test
    void maxPixelsOverrideMatchesHuggingFace() {
        RgbImage image = new ImageDecoder().decode(MediaResources.bytes("src/img_112x84.png"));
        assertMatches("img_112x84_max_pixels_3136", QWEN25.process(image, new PixelBounds(null, 3136L)));
    }

    /** Qwen3-VL-style config: patch 16, mean/std 0.5, bounds in the newer `size` spelling. */
    @Test
    void patch16ConfigMatchesHuggingFace() throws IOException {
        String json = """
                {"size": {"shortest_edge": 4096, "longest_edge": 16777216}, "patch_size": 16,
                 "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5, 0.5, 0.5],
                 "image_std": [0.5, 0.5, 0.5], "image_processor_type": "Qwen2VLImageProcessor"}""";
        PreprocessorConfig config =
                PreprocessorConfig.read(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)));
        assertEquals(4096, config.minPixels());
        assertEquals(16777216, config.maxPixels());
        assertEquals(32, config.factor());
        RgbImage image = new ImageDecoder().decode(MediaResources.bytes("src/img_112x84.png"));
        assertMatches("img_112x84_patch16", new QwenImageProcessor(config).process(image));
    }

    @Test
    void explicitMinMaxPixelsWinOverSize() throws IOException {
        String json = """
                {"min_pixels": 100, "max_pixels": 200, "size": {"shortest_edge": 1, "longest_edge": 2}}""";
        PreprocessorConfig config =
                PreprocessorConfig.read(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)));
        assertEquals(100, config.minPixels());
        assertEquals(200, config.maxPixels());
        assertEquals(14, config.patchSize());
        assertEquals(PreprocessorConfig.CLIP_MEAN, config.imageMean());
        assertEquals(1 / 255.0, config.rescaleFactor());
    }

    @Test
    void gridWithoutPixels() {
        ImageGrid g = QWEN25.grid(61, 100);
        assertEquals(new ImageSize(56, 112), QWEN25.resize(61, 100, PixelBounds.NONE));
        assertEquals(List.of(1, 4, 8), List.of(g.gridT(), g.gridH(), g.gridW()));
        assertEquals(32, g.numPatches());
        assertEquals(8, g.numTokens());
        ImageGrid big = QWEN25.grid(3024, 4032, new PixelBounds(null, 1003520L));
        assertEquals(
                new ImageSize(840, 1148),
                QWEN25.resize(3024, 4032, new PixelBounds(null, 1003520L))); // transformers: (840, 1148)
        assertEquals(60 * 82 / 4, big.numTokens());
    }

    @Test
    void pixelValuesHelpers() {
        PixelValues pv = new PixelValues(new float[32 * 1176], 1, 4, 8);
        assertEquals(32, pv.numPatches());
        assertEquals(1176, pv.patchDim());
        assertEquals(8, pv.numMergedTokens(2));
        assertThrows(IllegalArgumentException.class, () -> new PixelValues(new float[1000], 1, 4, 8));
    }

    @Test
    void aspectRatioAbove200IsRejected() {
        RgbImage strip = new RgbImage(201, 1, new byte[201 * 3]);
        MediaException e = assertThrows(MediaException.class, () -> QWEN25.process(strip));
        assertEquals(MediaException.Reason.BAD_ASPECT_RATIO, e.reason());
    }

    private static void assertMatches(String name, PixelValues actual) {
        try (SafetensorsFile f = SafetensorsFile.open(MediaResources.path("processor/" + name + ".safetensors"))) {
            long[] thw = f.readLongs("image_grid_thw");
            assertArrayEquals(thw, new long[] {actual.gridT(), actual.gridH(), actual.gridW()}, name);
            float[] expected = f.readFloats("pixel_values");
            assertEquals(expected.length, actual.data().length, name);
            for (int i = 0; i < expected.length; i++) {
                if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual.data()[i])) {
                    throw new AssertionError(name + ": value " + i + " (patch " + i / actual.patchDim() + ") is "
                            + actual.data()[i] + ", Hugging Face has " + expected[i]);
                }
            }
        }
    }
}
