package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.safetensors.SafetensorsFile;
import dev.jepd.media.BicubicResize;
import dev.jepd.media.ImageDecoder;
import dev.jepd.media.ImageGrid;
import dev.jepd.media.PixelValues;
import dev.jepd.media.PreprocessorConfig;
import dev.jepd.media.QwenImageProcessor;
import dev.jepd.media.RgbImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The image path against the golden fixture (transformers 5.18 {@code Qwen2VLImageProcessor}, PIL
 * backend): decoded and resized RGB, {@code pixel_values} and {@code image_grid_thw}.
 */
class PixelParityTest {
    private static final QwenImageProcessor PROCESSOR =
            new QwenImageProcessor(PreprocessorConfig.read(golden("tiny-qwen2.5-vl/preprocessor_config.json")));

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        // case, tolerance on pixel_values: README's 1e-6 without resize; 2e-2 allowed after the bicubic
        // resize, though PIL-exact resampling gives 0 there too.
        "img_112x84, 1e-6",
        "img_100x61, 2e-2"
    })
    void pixelValuesAndGridMatchTheGolden(String name, double tolerance) throws IOException {
        RgbImage image = new ImageDecoder().decode(Files.readAllBytes(golden("images/" + name + ".png")));
        try (SafetensorsFile f = SafetensorsFile.open(golden("cases/" + name + ".safetensors"))) {
            long[] shape = f.info("resized_rgb").shape(); // [H, W, 3]
            RgbImage resized = BicubicResize.resize(image, (int) shape[1], (int) shape[0]);
            assertArrayEquals(f.readBytes("resized_rgb"), resized.rgb(), name + ": resized RGB differs from PIL's");

            long[] thw = f.readLongs("image_grid_thw");
            ImageGrid grid = PROCESSOR.grid(image.height(), image.width());
            assertArrayEquals(thw, new long[] {grid.gridT(), grid.gridH(), grid.gridW()}, name + ": grid from size");

            PixelValues pv = PROCESSOR.process(image);
            assertArrayEquals(thw, new long[] {pv.gridT(), pv.gridH(), pv.gridW()}, name + ": image_grid_thw");
            float[] expected = f.readFloats("pixel_values");
            assertEquals(expected.length, pv.data().length, name + ": pixel_values size");
            double maxAbs = 0;
            for (int i = 0; i < expected.length; i++) {
                maxAbs = Math.max(maxAbs, Math.abs((double) expected[i] - pv.data()[i]));
            }
            System.out.println(name + ": pixel_values max |diff| = " + maxAbs + " (grid " + pv + ")");
            assertTrue(maxAbs <= tolerance, name + ": pixel_values max |diff| " + maxAbs + " > " + tolerance);
        }
    }

    private static Path golden(String relative) {
        URL url = PixelParityTest.class.getResource("/golden/" + relative);
        if (url == null) {
            throw new UncheckedIOException(
                    new IOException("golden fixture file " + relative + " is not on the test classpath"));
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
