package dev.jepd.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.media.ImageDecoder;
import dev.jepd.media.PixelBounds;
import dev.jepd.media.RgbImage;
import dev.jepd.models.ModelParts;
import dev.jepd.models.golden.GoldenCase;
import dev.jepd.models.golden.GoldenModel;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** Images that arrive together run as one vision-tower batch, with the same embeddings as one by one. */
class EncodeBatcherTest {
    @Test
    void concurrentImagesBatchAndMatchSoloEncodes() throws Exception {
        List<RgbImage> images = new ArrayList<>();
        for (String name : GoldenCase.NAMES) {
            try (GoldenCase g = GoldenCase.load(name)) {
                images.add(new ImageDecoder().decode(Files.readAllBytes(g.image())));
            }
        }
        try (ModelRuntime rt = ModelRuntime.open(GoldenModel.dir(), RuntimeOptions.defaults(ModelParts.VISION));
                EncodeBatcher batcher = new EncodeBatcher(rt, 16)) {
            List<EncodedImage> solo = new ArrayList<>();
            for (RgbImage img : images) {
                solo.add(rt.encode(List.of(img), PixelBounds.NONE).getFirst());
            }
            List<CompletableFuture<EncodedImage>> futures = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                futures.add(batcher.submit(images.get(i % images.size()), PixelBounds.NONE));
            }
            for (int i = 0; i < futures.size(); i++) {
                EncodedImage got = futures.get(i).join();
                EncodedImage want = solo.get(i % images.size());
                assertEquals(want.grid(), got.grid());
                assertTrue(GoldenCase.maxAbsDiff(want.embeddings(), got.embeddings()) <= 1e-5, "image " + i);
            }
            assertEquals(12, batcher.images());
            assertTrue(
                    batcher.largestBatch() > 1, "queued images ran together: largest batch " + batcher.largestBatch());
            assertTrue(batcher.batches() < 12, "fewer tower runs than images: " + batcher.batches());
        }
    }
}
