package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.kv.PagedKvStore;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.model.SequenceChunk;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.media.ImageGrid;
import dev.jepd.media.PixelValues;
import dev.jepd.models.qwen2.Qwen2Decoder;
import dev.jepd.models.qwen25vl.Qwen25VisionTower;
import dev.jepd.models.qwen25vl.Qwen25VlConfig;
import dev.jepd.models.qwen25vl.Qwen25VlModel;
import dev.jepd.models.qwenvl.MropePositions;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.TensorBackend;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The vision tower and the language model against Hugging Face transformers' own outputs on the golden
 * checkpoint: every intermediate the fixture has, then greedy decoding over the paged KV cache.
 */
class ModelParityTest {
    static TensorBackend backend;
    static Qwen25VlConfig config;
    static Checkpoint weights;
    static Qwen25VisionTower tower;
    static Qwen2Decoder decoder;

    @BeforeAll
    static void load() {
        Path dir = GoldenModel.dir();
        backend = GoldenBackend.open();
        config = Qwen25VlConfig.read(dir.resolve("config.json"));
        weights = Checkpoint.open(dir);
        tower = new Qwen25VisionTower(backend, config, weights);
        decoder = Qwen25VlModel.decoder(backend, config, weights);
    }

    @AfterAll
    static void close() {
        tower.close();
        decoder.close();
        weights.close();
        backend.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"img_112x84", "img_100x61"})
    void visionTowerMatchesReference(String name) {
        try (GoldenCase g = GoldenCase.load(name)) {
            long[] grid = g.longs("image_grid_thw");
            PixelValues pv = new PixelValues(g.floats("pixel_values"), (int) grid[0], (int) grid[1], (int) grid[2]);
            Map<String, float[]> seen = new HashMap<>();
            tower.setTap((k, t) -> seen.put(k, t.toFloats()));
            float[] embeds;
            try (Scope step = backend.open()) {
                embeds = tower.encode(List.of(pv), backend.ops(step)).getFirst().toFloats();
            }
            tower.setTap(null);
            assertTrue(GoldenCase.maxAbsDiff(g.floats("vision_patch_embed"), seen.get("patch_embed")) <= 1e-5);
            if (System.getProperty("jepd.debug") != null) {
                try (var dbg =
                        dev.jepd.engine.safetensors.SafetensorsFile.open(Path.of(System.getProperty("jepd.debug")))) {
                    for (String k : List.of("norm1", "qkv", "attn")) {
                        System.err.println("DEBUG " + k + " " + GoldenCase.maxAbsDiff(dbg.readFloats(k), seen.get(k)));
                    }
                }
            }
            float[] blocks = g.floats("vision_block_out");
            int per = blocks.length / 4;
            // The fixture stores block outputs in raster order (its README says window order; the values
            // equal transformers' hooks only after undoing the window permutation).
            long[] window = g.longs("vision_window_index");
            for (int b = 0; b < 4; b++) {
                float[] ref = java.util.Arrays.copyOfRange(blocks, b * per, (b + 1) * per);
                float d = GoldenCase.maxAbsDiff(ref, toRaster(seen.get("block_out." + b), window, 4 * 80));
                assertTrue(d <= 1e-4, "vision block " + b + " max abs diff " + d);
            }
            float d = GoldenCase.maxAbsDiff(g.floats("vision_embeds"), embeds);
            assertTrue(d <= 1e-4, "vision embeddings max abs diff " + d);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"img_112x84", "img_100x61"})
    void languageModelMatchesReferenceAndDecodesGreedily(String name) {
        try (GoldenCase g = GoldenCase.load(name)) {
            int[] ids = toInts(g.longs("input_ids"));
            long[] grid = g.longs("image_grid_thw");
            ImageGrid ig = new ImageGrid((int) grid[0], (int) grid[1], (int) grid[2], 2);
            PromptPositions pos = MropePositions.of(ids, List.of(ig), config.imageTokenId());
            long[] refPos = g.longs("position_ids");
            for (int a = 0; a < 3; a++) {
                assertArrayEquals(
                        java.util.Arrays.copyOfRange(refPos, a * ids.length, (a + 1) * ids.length), pos.positions()[a]);
            }
            assertEquals(g.longs("rope_delta")[0], pos.delta());

            int start = -1;
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] == config.imageTokenId()) {
                    start = i;
                    break;
                }
            }
            float[] embeds = g.floats("vision_embeds");
            int blockSize = 16;
            try (PagedKvStore kv = new PagedKvStore(backend, 2, 2, 16, 8, blockSize)) {
                // Blocks deliberately out of order: 5, 2, 7, 0 — slots must follow the table, not the index.
                int[] table = {5, 2, 7, 0};
                long[] allSlots = new long[64];
                for (int i = 0; i < allSlots.length; i++) {
                    allSlots[i] = (long) table[i / blockSize] * blockSize + i % blockSize;
                }
                Map<String, float[]> seen = new HashMap<>();
                decoder.setTap((k, t) -> seen.put(k, t.toFloats()));
                SequenceChunk prefill = new SequenceChunk(
                        ids,
                        pos.positions(),
                        java.util.Arrays.copyOf(allSlots, ids.length),
                        java.util.Arrays.copyOf(allSlots, ids.length),
                        0,
                        List.of(new SequenceChunk.InjectedRows(start, ig.numTokens(), embeds, 0)),
                        true);
                float[] logits = GoldenCase.forward(decoder, backend, prefill, kv);
                decoder.setTap(null);
                assertTrue(GoldenCase.maxAbsDiff(g.floats("lm_inputs_embeds"), seen.get("inputs_embeds")) <= 1e-6);
                float[] layers = g.floats("lm_layer_out");
                int per = layers.length / 2;
                for (int l = 0; l < 2; l++) {
                    float d = GoldenCase.maxAbsDiff(
                            java.util.Arrays.copyOfRange(layers, l * per, (l + 1) * per), seen.get("layer_out." + l));
                    assertTrue(d <= 5e-4, "layer " + l + " max abs diff " + d);
                }
                float dl = GoldenCase.maxAbsDiff(g.floats("logits_last"), logits);
                assertTrue(dl <= 1e-3, "logits max abs diff " + dl);
                assertEquals(GoldenCase.argmax(g.floats("logits_last")), GoldenCase.argmax(logits));

                long[] expected = g.longs("generated_ids");
                long[] refGenPos = g.longs("generated_position_ids");
                List<Long> got = new ArrayList<>();
                int next = GoldenCase.argmax(logits);
                int seqLen = ids.length;
                for (int step = 0; step < expected.length; step++) {
                    got.add((long) next);
                    if (step + 1 == expected.length) {
                        break;
                    }
                    long[][] p = PromptPositions.decode(3, seqLen, 1, pos.delta());
                    assertEquals(
                            refGenPos[expected.length + step], p[1][0], "position of generated token " + (step + 1));
                    SequenceChunk d = new SequenceChunk(
                            new int[] {next},
                            p,
                            new long[] {allSlots[seqLen]},
                            java.util.Arrays.copyOf(allSlots, seqLen + 1),
                            seqLen,
                            List.of(),
                            true);
                    next = GoldenCase.argmax(GoldenCase.forward(decoder, backend, d, kv));
                    seqLen++;
                }
                assertEquals(java.util.Arrays.stream(expected).boxed().toList(), got);
            }
        }
    }

    /** Rows grouped in merge units of {@code unitWidth} floats, from window order back to raster order. */
    static float[] toRaster(float[] windowOrder, long[] windowIndex, int unitWidth) {
        float[] out = new float[windowOrder.length];
        for (int i = 0; i < windowIndex.length; i++) {
            System.arraycopy(windowOrder, i * unitWidth, out, (int) windowIndex[i] * unitWidth, unitWidth);
        }
        return out;
    }

    static int[] toInts(long[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = Math.toIntExact(a[i]);
        }
        return out;
    }
}
