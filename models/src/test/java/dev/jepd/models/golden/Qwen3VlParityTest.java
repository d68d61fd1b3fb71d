package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.kv.PagedKvStore;
import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.model.SequenceChunk;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.safetensors.SafetensorsWriter;
import dev.jepd.media.ImageDecoder;
import dev.jepd.media.ImageGrid;
import dev.jepd.media.PixelValues;
import dev.jepd.media.PreprocessorConfig;
import dev.jepd.media.QwenImageProcessor;
import dev.jepd.models.ModelParts;
import dev.jepd.models.ModelRegistry;
import dev.jepd.models.qwen2.Qwen2Decoder;
import dev.jepd.models.qwen3vl.Qwen3VisionTower;
import dev.jepd.models.qwen3vl.Qwen3VlArchitecture;
import dev.jepd.models.qwen3vl.Qwen3VlConfig;
import dev.jepd.models.qwen3vl.Qwen3VlWeights;
import dev.jepd.models.qwenvl.MropePositions;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import dev.jepd.models.tiny.TinyQwen3VlWriter;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.TensorBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Qwen3-VL against Hugging Face transformers' own {@code Qwen3VLForConditionalGeneration} on the tiny Qwen3-VL
 * checkpoint ({@code golden/tiny-qwen3-vl/}, cases made by {@code make_qwen3_vl_goldens.py}): pixel values,
 * every vision block, the main merger's and each DeepStack merger's embeddings, M-RoPE positions, each decoder
 * layer, the last logits and 16 greedy tokens, fed both the reference's embeddings and JEPD's own encoder rows
 * (vLLM's EC layout, {@code [hidden × (1 + levels)]}).
 */
class Qwen3VlParityTest {
    static final String[] CASES = {"img_112x84", "img_100x61"};

    static TensorBackend backend;
    static Path dir;
    static Qwen3VlConfig config;
    static Checkpoint weights;
    static Qwen3VisionTower tower;
    static Qwen2Decoder decoder;

    @BeforeAll
    static void load() throws IOException {
        dir = TinyQwen3VlWriter.ensure(Path.of("target", "tiny-qwen3-vl").toAbsolutePath());
        backend = GoldenBackend.open();
        config = Qwen3VlConfig.fromJson(HfSnapshot.open(dir).config());
        weights = Checkpoint.open(dir);
        tower = new Qwen3VisionTower(backend, config, weights);
        decoder = new Qwen2Decoder(backend, config.textParams(), weights, QwenVlCheckpoint.languageLoader());
    }

    @AfterAll
    static void close() {
        tower.close();
        decoder.close();
        weights.close();
        backend.close();
    }

    static PixelValues pixels(GoldenCase g) throws IOException {
        QwenImageProcessor processor =
                new QwenImageProcessor(PreprocessorConfig.read(dir.resolve("preprocessor_config.json")));
        return processor.process(new ImageDecoder().decode(Files.readAllBytes(g.image())));
    }

    /** Runs the tower; returns its output rows, with the taps it saw. */
    static float[] encode(PixelValues pv, Map<String, float[]> taps) {
        tower.setTap((k, t) -> taps.put(k, t.toFloats()));
        try (Scope step = backend.open()) {
            return tower.encode(List.of(pv), backend.ops(step)).getFirst().toFloats();
        } finally {
            tower.setTap(null);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"img_112x84", "img_100x61"})
    void pixelsAndVisionTowerMatchTransformers(String name) throws IOException {
        try (GoldenCase g = GoldenCase.load("qwen3-vl_" + name)) {
            PixelValues pv = pixels(g);
            assertArrayEquals(g.longs("image_grid_thw"), new long[] {pv.gridT(), pv.gridH(), pv.gridW()});
            float dp = GoldenCase.maxAbsDiff(g.floats("pixel_values"), pv.data());
            assertTrue(dp <= 1e-6, "pixel values max abs diff " + dp);

            Map<String, float[]> taps = new HashMap<>();
            float[] rows = encode(pv, taps);
            float[] ref = g.floats("vision_block_out");
            int depth = config.vision().depth();
            int per = ref.length / depth;
            for (int b = 0; b < depth; b++) {
                float d = GoldenCase.maxAbsDiff(
                        Arrays.copyOfRange(ref, b * per, (b + 1) * per), taps.get("block_out." + b));
                System.out.printf("qwen3-vl %s vision block %d max abs diff %.3g%n", name, b, d);
                assertTrue(d <= 3e-4, "vision block " + b + " max abs diff " + d);
            }
            float d = GoldenCase.maxAbsDiff(g.floats("vision_embeds"), taps.get("merger"));
            System.out.printf("qwen3-vl %s vision embeddings (main merger) max abs diff %.3g%n", name, d);
            assertTrue(d <= 3e-4, "vision embeddings max abs diff " + d);
            float[] deepstack = g.floats("vision_deepstack");
            int levels = config.vision().deepstackLevels();
            int perLevel = deepstack.length / levels;
            for (int j = 0; j < levels; j++) {
                float dj = GoldenCase.maxAbsDiff(
                        Arrays.copyOfRange(deepstack, j * perLevel, (j + 1) * perLevel), taps.get("deepstack." + j));
                System.out.printf("qwen3-vl %s DeepStack level %d max abs diff %.3g%n", name, j, dj);
                assertTrue(dj <= 3e-4, "DeepStack level " + j + " max abs diff " + dj);
            }
            // The encoder's rows are vLLM's EC layout: [main | level 0 | level 1 ...] along the hidden axis.
            float[] expected = ecRows(g);
            float dr = GoldenCase.maxAbsDiff(expected, rows);
            assertTrue(dr <= 3e-4, "encoder rows (EC layout) max abs diff " + dr);
        }
    }

    /** The reference's main and DeepStack embeddings side by side per token: vLLM's EC layout. */
    static float[] ecRows(GoldenCase g) {
        return g.ecRows(config.text().hiddenSize(), config.vision().deepstackLevels());
    }

    @ParameterizedTest
    @ValueSource(strings = {"img_112x84", "img_100x61"})
    void languageModelMatchesTransformersAndDecodesGreedily(String name) throws IOException {
        try (GoldenCase g = GoldenCase.load("qwen3-vl_" + name)) {
            int[] ids = Arrays.stream(g.longs("input_ids"))
                    .mapToInt(Math::toIntExact)
                    .toArray();
            long[] grid = g.longs("image_grid_thw");
            ImageGrid ig = new ImageGrid((int) grid[0], (int) grid[1], (int) grid[2], 2);
            int imageToken = config.imageTokenId();
            PromptPositions pos = MropePositions.of(ids, List.of(ig), imageToken);
            long[] refPos = g.longs("position_ids");
            for (int a = 0; a < 3; a++) {
                assertArrayEquals(Arrays.copyOfRange(refPos, a * ids.length, (a + 1) * ids.length), pos.positions()[a]);
            }
            assertEquals(g.longs("rope_delta")[0], pos.delta());

            // The reference's embeddings: layers, final norm (of the prefill step), logits and the greedy tokens.
            List<float[]> layers = new ArrayList<>();
            float[][] finalNorm = new float[1][];
            decoder.setTap((k, t) -> {
                if (finalNorm[0] != null) {
                    return; // a decode step
                }
                if (k.startsWith("layer_out.")) {
                    layers.add(t.toFloats());
                } else if (k.equals("final_norm")) {
                    finalNorm[0] = t.toFloats();
                }
            });
            List<Long> got;
            float[] logits;
            try {
                float[][] first = new float[1][];
                got = generate(ids, ig, pos, ecRows(g), g.longs("generated_ids").length, first);
                logits = first[0];
            } finally {
                decoder.setTap(null);
            }
            float[] ref = g.floats("lm_layer_out");
            int per = ids.length * config.text().hiddenSize();
            assertEquals(config.text().numLayers() - 1, ref.length / per);
            for (int l = 0; l + 1 < config.text().numLayers(); l++) {
                float d = GoldenCase.maxAbsDiff(Arrays.copyOfRange(ref, l * per, (l + 1) * per), layers.get(l));
                System.out.printf("qwen3-vl %s decoder layer %d max abs diff %.3g%n", name, l, d);
                assertTrue(d <= 5e-4, "layer " + l + " max abs diff " + d);
            }
            float dn = GoldenCase.maxAbsDiff(g.floats("lm_final_norm"), finalNorm[0]);
            assertTrue(dn <= 5e-4, "final norm max abs diff " + dn);
            float dl = GoldenCase.maxAbsDiff(g.floats("logits_last"), logits);
            System.out.printf("qwen3-vl %s logits max abs diff %.3g (final norm %.3g)%n", name, dl, dn);
            assertTrue(dl <= 1e-3, "logits max abs diff " + dl);
            assertEquals(Arrays.stream(g.longs("generated_ids")).boxed().toList(), got);

            // JEPD end to end: its own processor and encoder rows into its decoder.
            float[][] own = new float[1][];
            List<Long> ownTokens = generate(ids, ig, pos, encode(pixels(g), new HashMap<>()), got.size(), own);
            float de = GoldenCase.maxAbsDiff(g.floats("logits_last"), own[0]);
            System.out.printf("qwen3-vl %s logits from JEPD's own encoder rows max abs diff %.3g%n", name, de);
            assertTrue(de <= 1e-3, "logits from JEPD's encoder rows max abs diff " + de);
            assertEquals(Arrays.stream(g.longs("generated_ids")).boxed().toList(), ownTokens);
        }
    }

    /** Two images in one encode call (an encoder node's batch): each image's rows as when encoded alone. */
    @Test
    void aBatchOfImagesEncodesAsEachAlone() throws IOException {
        List<PixelValues> pvs = new ArrayList<>();
        List<float[]> alone = new ArrayList<>();
        for (String c : CASES) {
            try (GoldenCase g = GoldenCase.load("qwen3-vl_" + c)) {
                pvs.add(pixels(g));
                alone.add(encode(pvs.getLast(), new HashMap<>()));
            }
        }
        try (Scope step = backend.open()) {
            var out = tower.encode(pvs, backend.ops(step));
            for (int i = 0; i < pvs.size(); i++) {
                assertEquals(pvs.get(i).numPatches() / 4, out.get(i).dim(0));
                assertEquals(64 * 3, out.get(i).dim(1));
                float d = GoldenCase.maxAbsDiff(alone.get(i), out.get(i).toFloats());
                assertTrue(d <= 1e-5, "image " + i + " in a batch vs alone max abs diff " + d);
            }
        }
    }

    /**
     * A prefill cut in two chunks inside the image (the scheduler's chunked prefill): the DeepStack levels
     * reach each chunk's image rows, and the last logits are the reference's.
     */
    @Test
    void aPrefillChunkedInsideTheImageMatchesTransformers() {
        try (GoldenCase g = GoldenCase.load("qwen3-vl_img_112x84")) {
            int[] ids = Arrays.stream(g.longs("input_ids"))
                    .mapToInt(Math::toIntExact)
                    .toArray();
            long[] grid = g.longs("image_grid_thw");
            ImageGrid ig = new ImageGrid((int) grid[0], (int) grid[1], (int) grid[2], 2);
            PromptPositions pos = MropePositions.of(ids, List.of(ig), config.imageTokenId());
            int start = 0;
            while (ids[start] != config.imageTokenId()) {
                start++;
            }
            int cut = start + ig.numTokens() / 2;
            float[] rows = ecRows(g);
            long[] slots = new long[ids.length];
            for (int i = 0; i < slots.length; i++) {
                slots[i] = i;
            }
            try (PagedKvStore kv = new PagedKvStore(backend, 2, 2, 16, 8, 16)) {
                GoldenCase.forward(
                        decoder,
                        backend,
                        new SequenceChunk(
                                Arrays.copyOf(ids, cut),
                                slice(pos.positions(), 0, cut),
                                Arrays.copyOf(slots, cut),
                                Arrays.copyOf(slots, cut),
                                0,
                                List.of(new SequenceChunk.InjectedRows(start, cut - start, rows, 0)),
                                false),
                        kv);
                float[] logits = GoldenCase.forward(
                        decoder,
                        backend,
                        new SequenceChunk(
                                Arrays.copyOfRange(ids, cut, ids.length),
                                slice(pos.positions(), cut, ids.length),
                                Arrays.copyOfRange(slots, cut, ids.length),
                                slots,
                                cut,
                                List.of(new SequenceChunk.InjectedRows(
                                        0, start + ig.numTokens() - cut, rows, cut - start)),
                                true),
                        kv);
                float d = GoldenCase.maxAbsDiff(g.floats("logits_last"), logits);
                assertTrue(d <= 1e-3, "chunked prefill logits max abs diff " + d);
                assertEquals(g.longs("generated_ids")[0], GoldenCase.argmax(logits));
            }
        }
    }

    private static long[][] slice(long[][] positions, int from, int to) {
        long[][] out = new long[positions.length][];
        for (int a = 0; a < positions.length; a++) {
            out[a] = Arrays.copyOfRange(positions[a], from, to);
        }
        return out;
    }

    /** A config tying the head to the embedding (Qwen3-VL-2B/4B): no lm_head in the decoder's table. */
    @Test
    void aTiedConfigExpectsNoHeadTensor() throws IOException {
        var tied = TinyQwen3VlWriter.config();
        tied.put("tie_word_embeddings", true);
        var params = Qwen3VlConfig.fromJson(tied).textParams();
        assertTrue(params.tiedEmbeddings());
        assertTrue(dev.jepd.models.qwen2.Qwen2Weights.table(params).expand().stream()
                .noneMatch(e -> e.name().equals(dev.jepd.models.qwen2.Qwen2Weights.LM_HEAD)));
        assertTrue(dev.jepd.models.qwen2.Qwen2Weights.table(config.textParams()).expand().stream()
                .anyMatch(e -> e.name().equals(dev.jepd.models.qwen2.Qwen2Weights.LM_HEAD)));
    }

    /** Prefills the prompt with {@code rows} injected at the image tokens, then decodes greedily. */
    static List<Long> generate(
            int[] ids, ImageGrid ig, PromptPositions pos, float[] rows, int tokens, float[][] firstLogits) {
        int start = 0;
        while (ids[start] != config.imageTokenId()) {
            start++;
        }
        try (PagedKvStore kv = new PagedKvStore(backend, 2, 2, 16, 8, 16)) {
            long[] slots = new long[128];
            for (int i = 0; i < slots.length; i++) {
                slots[i] = i;
            }
            float[] logits = GoldenCase.forward(
                    decoder,
                    backend,
                    new SequenceChunk(
                            ids,
                            pos.positions(),
                            Arrays.copyOf(slots, ids.length),
                            Arrays.copyOf(slots, ids.length),
                            0,
                            List.of(new SequenceChunk.InjectedRows(start, ig.numTokens(), rows, 0)),
                            true),
                    kv);
            firstLogits[0] = logits;
            List<Long> got = new ArrayList<>();
            int next = GoldenCase.argmax(logits);
            int seqLen = ids.length;
            for (int step = 0; step < tokens; step++) {
                got.add((long) next);
                if (step + 1 == tokens) {
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
            return got;
        }
    }

    /**
     * Grids on 50 random sizes and some edges, by the hub preprocessor config (min-pixels upscale, max-pixels
     * downscale, half-to-even rounding) and by the family's defaults ({@code ModelFamily.QWEN3_VL}, the
     * proxy's image-token cost), against transformers' {@code smart_resize}.
     */
    @Test
    void gridsMatchTransformersOnRandomSizes() throws IOException {
        var json = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(GoldenCase.root().resolve("qwen3-vl_grids.json").toFile());
        QwenImageProcessor hub =
                new QwenImageProcessor(PreprocessorConfig.read(dir.resolve("preprocessor_config.json")));
        QwenImageProcessor family = new QwenImageProcessor(dev.jepd.media.ModelFamily.QWEN3_VL.preprocessorDefaults());
        int n = 0;
        for (var g : json.get("grids")) {
            int h = g.get("height").asInt();
            int w = g.get("width").asInt();
            long[] expected = {
                g.get("grid_thw").get(0).asLong(),
                g.get("grid_thw").get(1).asLong(),
                g.get("grid_thw").get(2).asLong()
            };
            for (QwenImageProcessor p : List.of(hub, family)) {
                ImageGrid got = p.grid(h, w);
                assertArrayEquals(expected, new long[] {got.gridT(), got.gridH(), got.gridW()}, h + "x" + w);
            }
            n++;
        }
        assertTrue(n >= 50, n + " sizes");
    }

    /** The model's chat template and the prompt builder give the reference's prompt ids for both images. */
    @Test
    void thePromptIsTheReferences() throws IOException {
        try (var model = ModelRegistry.load(HfSnapshot.open(dir), backend, ModelParts.VISION);
                var tokenizer = dev.jepd.engine.text.Tokenizer.load(dir.resolve("tokenizer.json"))) {
            var prompts =
                    new dev.jepd.engine.text.PromptBuilder(tokenizer, model.specialTokens(), model.chatTemplate());
            for (String c : CASES) {
                try (GoldenCase g = GoldenCase.load("qwen3-vl_" + c)) {
                    long[] grid = g.longs("image_grid_thw");
                    ImageGrid ig = new ImageGrid((int) grid[0], (int) grid[1], (int) grid[2], model.mergeSize());
                    var p = prompts.chat(
                            List.of(dev.jepd.engine.text.ChatMessage.user(
                                    new dev.jepd.engine.text.ContentPart.Image(0),
                                    new dev.jepd.engine.text.ContentPart.Text("Describe this image."))),
                            new int[] {ig.numTokens()});
                    assertArrayEquals(
                            Arrays.stream(g.longs("input_ids"))
                                    .mapToInt(Math::toIntExact)
                                    .toArray(),
                            p.ids(),
                            c);
                }
            }
        }
    }

    @Test
    void theRegistryLoadsItByArchitectureWithTheEcWidth() {
        try (var model = ModelRegistry.load(HfSnapshot.open(dir), backend, ModelParts.ALL)) {
            assertEquals(Qwen3VlArchitecture.NAME, model.architecture());
            assertEquals(64 * 3, model.vision().orElseThrow().embeddingDim());
            assertEquals(64 * 3, model.language().orElseThrow().shape().embedWidth());
            assertEquals(64, model.language().orElseThrow().shape().hidden());
        }
    }

    /**
     * A checkpoint without one DeepStack merger tensor, under a config whose patch size disagrees with the
     * weights: one error naming both problems.
     */
    @Test
    void aMissingDeepStackMergerAndAWrongPatchSizeAreNamedInOneError(@TempDir Path tmp) throws IOException {
        for (String f : List.of(
                "generation_config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json")) {
            Files.copy(dir.resolve(f), tmp.resolve(f));
        }
        String dropped = "model.visual.deepstack_merger_list.1.linear_fc2.weight";
        SafetensorsWriter w = new SafetensorsWriter();
        for (String n : weights.names()) {
            if (!n.equals(dropped)) {
                w.put(
                        n,
                        new SafetensorsWriter.Entry(
                                weights.info(n).dtype(), weights.info(n).shape(), weights.readBytes(n)));
            }
        }
        w.write(tmp.resolve(Checkpoint.SINGLE));
        Files.writeString(
                tmp.resolve("config.json"),
                Files.readString(dir.resolve("config.json")).replace("\"patch_size\": 16", "\"patch_size\": 14"));
        var e = assertThrows(
                RuntimeException.class, () -> ModelRegistry.load(HfSnapshot.open(tmp), backend, ModelParts.ALL));
        String m = e.getMessage();
        assertTrue(m.contains("Qwen3-VL vision tower"), m);
        assertTrue(m.contains(Qwen3VlWeights.deepstack(1, Qwen3VlWeights.M_FC2_W)), m);
        assertTrue(m.contains("model.visual.patch_embed.proj.weight"), m);
        assertTrue(m.contains("missing (1)") && m.contains("wrong shape (1)"), m);
    }
}
