package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.kv.PagedKvStore;
import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.model.SequenceChunk;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.media.ImageDecoder;
import dev.jepd.media.ImageGrid;
import dev.jepd.media.PixelValues;
import dev.jepd.media.PreprocessorConfig;
import dev.jepd.media.QwenImageProcessor;
import dev.jepd.models.ModelParts;
import dev.jepd.models.ModelRegistry;
import dev.jepd.models.qwen2.Qwen2Decoder;
import dev.jepd.models.qwen25vl.Qwen25VlModel;
import dev.jepd.models.qwen2vl.Qwen2VisionTower;
import dev.jepd.models.qwen2vl.Qwen2VlArchitecture;
import dev.jepd.models.qwen2vl.Qwen2VlConfig;
import dev.jepd.models.qwenvl.MropePositions;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import dev.jepd.models.tiny.TinyQwen2VlWriter;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.TensorBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Qwen2-VL against Hugging Face transformers' own {@code Qwen2VLForConditionalGeneration} on the tiny Qwen2-VL
 * checkpoint ({@code golden-qwen2-vl/}: made by its {@code make_goldens.py}): pixel values, every vision block,
 * the merger's embeddings, M-RoPE positions, each decoder layer, the last logits and 16 greedy tokens.
 */
class Qwen2VlParityTest {
    static TensorBackend backend;
    static Path dir;
    static Qwen2VlConfig config;
    static Checkpoint weights;
    static Qwen2VisionTower tower;
    static Qwen2Decoder decoder;

    @BeforeAll
    static void load() throws IOException {
        dir = TinyQwen2VlWriter.ensure(Path.of("target", "tiny-qwen2-vl").toAbsolutePath());
        backend = GoldenBackend.open();
        config = Qwen2VlConfig.fromJson(HfSnapshot.open(dir).config());
        weights = Checkpoint.open(dir);
        tower = new Qwen2VisionTower(backend, config, weights);
        decoder = new Qwen2Decoder(
                backend, Qwen25VlModel.textParams(config.text()), weights, QwenVlCheckpoint.languageLoader());
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
    void pixelsAndVisionTowerMatchTransformers(String name) throws IOException {
        try (GoldenCase g = GoldenCase.load("qwen2-vl_" + name)) {
            QwenImageProcessor processor =
                    new QwenImageProcessor(PreprocessorConfig.read(dir.resolve("preprocessor_config.json")));
            PixelValues pv = processor.process(new ImageDecoder().decode(Files.readAllBytes(g.image())));
            long[] grid = g.longs("image_grid_thw");
            assertArrayEquals(grid, new long[] {pv.gridT(), pv.gridH(), pv.gridW()});
            float dp = GoldenCase.maxAbsDiff(g.floats("pixel_values"), pv.data());
            assertTrue(dp <= 1e-6, "pixel values max abs diff " + dp);

            List<float[]> blocks = new ArrayList<>();
            tower.setTap((k, t) -> {
                if (k.startsWith("block_out.")) {
                    blocks.add(t.toFloats());
                }
            });
            float[] embeds;
            try (Scope step = backend.open()) {
                embeds = tower.encode(List.of(pv), backend.ops(step)).getFirst().toFloats();
            } finally {
                tower.setTap(null);
            }
            float[] ref = g.floats("vision_block_out");
            int per = ref.length / blocks.size();
            for (int b = 0; b < blocks.size(); b++) {
                float d = GoldenCase.maxAbsDiff(Arrays.copyOfRange(ref, b * per, (b + 1) * per), blocks.get(b));
                assertTrue(d <= 1e-4, "vision block " + b + " max abs diff " + d);
            }
            float d = GoldenCase.maxAbsDiff(g.floats("vision_embeds"), embeds);
            assertTrue(d <= 1e-4, "vision embeddings max abs diff " + d);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"img_112x84", "img_100x61"})
    void languageModelMatchesTransformersAndDecodesGreedily(String name) {
        try (GoldenCase g = GoldenCase.load("qwen2-vl_" + name)) {
            long[] idsL = g.longs("input_ids");
            int[] ids = Arrays.stream(idsL).mapToInt(Math::toIntExact).toArray();
            long[] grid = g.longs("image_grid_thw");
            ImageGrid ig = new ImageGrid((int) grid[0], (int) grid[1], (int) grid[2], 2);
            int imageToken = config.text().imageTokenId();
            PromptPositions pos = MropePositions.of(ids, List.of(ig), imageToken);
            long[] refPos = g.longs("position_ids");
            for (int a = 0; a < 3; a++) {
                assertArrayEquals(Arrays.copyOfRange(refPos, a * ids.length, (a + 1) * ids.length), pos.positions()[a]);
            }
            assertEquals(g.longs("rope_delta")[0], pos.delta());
            int start = 0;
            while (ids[start] != imageToken) {
                start++;
            }
            try (PagedKvStore kv = new PagedKvStore(backend, 2, 2, 16, 8, 16)) {
                long[] slots = new long[64];
                for (int i = 0; i < slots.length; i++) {
                    slots[i] = i;
                }
                List<float[]> layers = new ArrayList<>();
                float[][] finalNorm = new float[1][];
                decoder.setTap((k, t) -> {
                    if (k.startsWith("layer_out.")) {
                        layers.add(t.toFloats());
                    } else if (k.equals("final_norm")) {
                        finalNorm[0] = t.toFloats();
                    }
                });
                float[] logits = GoldenCase.forward(
                        decoder,
                        backend,
                        new SequenceChunk(
                                ids,
                                pos.positions(),
                                Arrays.copyOf(slots, ids.length),
                                Arrays.copyOf(slots, ids.length),
                                0,
                                List.of(new SequenceChunk.InjectedRows(
                                        start, ig.numTokens(), g.floats("vision_embeds"), 0)),
                                true),
                        kv);
                decoder.setTap(null);
                // transformers' hidden states: every layer's output but the last, which it holds only normed
                float[] ref = g.floats("lm_layer_out");
                int per = ids.length * config.text().hiddenSize();
                assertEquals(layers.size() - 1, ref.length / per);
                for (int l = 0; l + 1 < layers.size(); l++) {
                    float d = GoldenCase.maxAbsDiff(Arrays.copyOfRange(ref, l * per, (l + 1) * per), layers.get(l));
                    assertTrue(d <= 5e-4, "layer " + l + " max abs diff " + d);
                }
                float dn = GoldenCase.maxAbsDiff(g.floats("lm_final_norm"), finalNorm[0]);
                assertTrue(dn <= 5e-4, "final norm max abs diff " + dn);
                float dl = GoldenCase.maxAbsDiff(g.floats("logits_last"), logits);
                assertTrue(dl <= 1e-3, "logits max abs diff " + dl);

                long[] expected = g.longs("generated_ids");
                List<Long> got = new ArrayList<>();
                int next = GoldenCase.argmax(logits);
                int seqLen = ids.length;
                for (int step = 0; step < expected.length; step++) {
                    got.add((long) next);
                    if (step + 1 == expected.length) {
                        break;
                    }
                    SequenceChunk d = new SequenceChunk(
                            new int[] {next},
                            PromptPositions.decode(3, seqLen, 1, pos.delta()),
                            new long[] {slots[seqLen]},
                            Arrays.copyOf(slots, seqLen + 1),
                            seqLen,
                            List.of(),
                            true);
                    next = GoldenCase.argmax(GoldenCase.forward(decoder, backend, d, kv));
                    seqLen++;
                }
                assertEquals(Arrays.stream(expected).boxed().toList(), got);
            }
        }
    }

    @org.junit.jupiter.api.Test
    void theRegistryLoadsItByArchitecture() {
        try (var model = ModelRegistry.load(HfSnapshot.open(dir), backend, ModelParts.ALL)) {
            assertEquals(Qwen2VlArchitecture.NAME, model.architecture());
            assertEquals(64, model.vision().orElseThrow().embeddingDim());
        }
    }

    /** A config whose patch size disagrees with the weights: one error naming every tensor it puts out of shape. */
    @org.junit.jupiter.api.Test
    void aWrongPatchSizeNamesEveryMisshapedTensor(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        for (String f : List.of(
                "generation_config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json")) {
            Files.copy(dir.resolve(f), tmp.resolve(f));
        }
        Files.createSymbolicLink(tmp.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        Files.writeString(
                tmp.resolve("config.json"),
                Files.readString(dir.resolve("config.json")).replace("\"patch_size\": 14", "\"patch_size\": 16"));
        var e = org.junit.jupiter.api.Assertions.assertThrows(
                RuntimeException.class, () -> ModelRegistry.load(HfSnapshot.open(tmp), backend, ModelParts.ALL));
        assertTrue(e.getMessage().contains("visual.patch_embed.proj.weight"), e.getMessage());
        assertTrue(e.getMessage().contains("Qwen2-VL vision tower"), e.getMessage());
    }
}
