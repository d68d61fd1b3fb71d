package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.generate.EngineCore;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.SchedulerConfig;
import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.MultimodalModel;
import dev.jepd.engine.sampling.Sampler;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.engine.text.ContentPart;
import dev.jepd.engine.text.Prompt;
import dev.jepd.engine.text.PromptBuilder;
import dev.jepd.engine.text.StopConditions;
import dev.jepd.engine.text.Tokenizer;
import dev.jepd.media.ImageGrid;
import dev.jepd.models.ModelParts;
import dev.jepd.models.ModelRegistry;
import dev.jepd.models.tiny.TinyQwen3VlWriter;
import dev.jepd.tensor.TensorBackend;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Qwen3-VL through the engine core, as a PD node runs it from an EC hit: a language-only model fed the
 * reference's encoder rows in vLLM's layout ({@code [64 × 3]} per image token) answers the golden greedy tokens
 * and text, alone and with both requests sharing steps under a 7-token budget (every prompt chunked, images
 * included).
 */
class Qwen3VlEngineTest {
    static TensorBackend backend;
    static MultimodalModel model;
    static Tokenizer tokenizer;
    static PromptBuilder prompts;

    @BeforeAll
    static void load() throws IOException {
        Path dir = TinyQwen3VlWriter.ensure(Path.of("target", "tiny-qwen3-vl").toAbsolutePath());
        backend = GoldenBackend.open();
        model = ModelRegistry.load(HfSnapshot.open(dir), backend, ModelParts.LANGUAGE);
        tokenizer = Tokenizer.load(dir.resolve("tokenizer.json"));
        prompts = new PromptBuilder(tokenizer, model.specialTokens(), model.chatTemplate());
    }

    @AfterAll
    static void close() {
        model.close();
        tokenizer.close();
        backend.close();
    }

    static GenerationRequest request(String caseName, String id) {
        try (GoldenCase g = GoldenCase.load("qwen3-vl_" + caseName)) {
            long[] grid = g.longs("image_grid_thw");
            ImageGrid ig = new ImageGrid((int) grid[0], (int) grid[1], (int) grid[2], model.mergeSize());
            Prompt p = prompts.chat(
                    List.of(ChatMessage.user(new ContentPart.Image(0), new ContentPart.Text("Describe this image."))),
                    new int[] {ig.numTokens()});
            int n = g.longs("generated_ids").length;
            return new GenerationRequest(
                    id,
                    p.ids(),
                    p.spans(),
                    List.of(g.ecRows(64, 2)),
                    model.positions(p.ids(), List.of(ig)),
                    SamplingParams.greedy(n),
                    StopConditions.maxTokens(n));
        }
    }

    static Map<String, EngineGoldenTest.Collect> run(SchedulerConfig cfg, List<GenerationRequest> requests) {
        Map<String, EngineGoldenTest.Collect> out = new LinkedHashMap<>();
        try (EngineCore core = new EngineCore(
                model.language().orElseThrow(), backend, tokenizer, cfg, List.of(151645, 151643), new Sampler(0))) {
            for (GenerationRequest r : requests) {
                EngineGoldenTest.Collect c = new EngineGoldenTest.Collect();
                out.put(r.id(), c);
                core.submit(r, c);
            }
            int guard = 0;
            while (core.hasWork()) {
                core.step();
                assertTrue(++guard < 10_000, "engine did not converge");
            }
        }
        return out;
    }

    @Test
    void goldenGreedyTextThroughTheEngineAloneAndChunked() {
        List<GenerationRequest> requests = new ArrayList<>();
        for (String c : Qwen3VlParityTest.CASES) {
            requests.add(request(c, c));
        }
        Map<String, EngineGoldenTest.Collect> chunked = run(new SchedulerConfig(8, 7, 4096, 16, 64), requests);
        for (GenerationRequest r : requests) {
            EngineGoldenTest.Collect solo =
                    run(new SchedulerConfig(8, 2048, 4096, 16, 64), List.of(r)).get(r.id());
            try (GoldenCase g = GoldenCase.load("qwen3-vl_" + r.id())) {
                List<Integer> expected = new ArrayList<>();
                for (long id : g.longs("generated_ids")) {
                    expected.add((int) id);
                }
                assertNull(solo.error);
                assertEquals(expected, solo.ids, r.id());
                assertEquals(g.json().get("generated_text").asText(), solo.text.toString(), r.id());
                assertNull(chunked.get(r.id()).error);
                assertEquals(expected, chunked.get(r.id()).ids, "chunked " + r.id());
            }
        }
    }
}
