package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.generate.EngineCore;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.SchedulerConfig;
import dev.jepd.engine.generate.TokenSink;
import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.MultimodalModel;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.sampling.Sampler;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.engine.text.ContentPart;
import dev.jepd.engine.text.FinishReason;
import dev.jepd.engine.text.Prompt;
import dev.jepd.engine.text.PromptBuilder;
import dev.jepd.engine.text.QwenChatTemplate;
import dev.jepd.engine.text.StopConditions;
import dev.jepd.engine.text.StopReason;
import dev.jepd.engine.text.Tokenizer;
import dev.jepd.media.ImageGrid;
import dev.jepd.models.ModelParts;
import dev.jepd.models.ModelRegistry;
import dev.jepd.tensor.TensorBackend;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Generation through the engine core: the golden greedy text for both cases, and the same answers when
 * many requests share steps with a tiny token budget (chunked prefill) and a tiny KV pool (preemption).
 */
class EngineGoldenTest {
    static TensorBackend backend;
    static MultimodalModel model;
    static Tokenizer tokenizer;
    static PromptBuilder prompts;

    @BeforeAll
    static void load() {
        var dir = GoldenModel.dir();
        backend = GoldenBackend.open();
        model = ModelRegistry.load(HfSnapshot.open(dir), backend, ModelParts.LANGUAGE);
        tokenizer = Tokenizer.load(dir.resolve("tokenizer.json"));
        prompts = new PromptBuilder(tokenizer, model.specialTokens(), QwenChatTemplate.DEFAULT);
    }

    @AfterAll
    static void close() {
        model.close();
        tokenizer.close();
        backend.close();
    }

    /** Collects one request's output. */
    static final class Collect implements TokenSink {
        final List<Integer> ids = new ArrayList<>();
        final StringBuilder text = new StringBuilder();
        FinishReason finish;
        RuntimeException error;

        @Override
        public void onToken(int tokenId, String delta) {
            ids.add(tokenId);
            text.append(delta);
        }

        @Override
        public void onFinish(FinishReason reason, StopReason stopReason, Usage usage) {
            finish = reason;
        }

        @Override
        public void onError(RuntimeException e) {
            error = e;
        }
    }

    static GenerationRequest goldenRequest(String caseName, String id, int maxTokens) {
        try (GoldenCase g = GoldenCase.load(caseName)) {
            long[] grid = g.longs("image_grid_thw");
            ImageGrid ig = new ImageGrid((int) grid[0], (int) grid[1], (int) grid[2], model.mergeSize());
            Prompt p = prompts.chat(
                    List.of(ChatMessage.user(
                            new ContentPart.Image(0),
                            new ContentPart.Text(g.json().get("prompt").asText()))),
                    new int[] {ig.numTokens()});
            PromptPositions pos = model.positions(p.ids(), List.of(ig));
            return new GenerationRequest(
                    id,
                    p.ids(),
                    p.spans(),
                    List.of(g.floats("vision_embeds")),
                    pos,
                    SamplingParams.greedy(maxTokens),
                    StopConditions.maxTokens(maxTokens));
        }
    }

    static GenerationRequest textRequest(String id, String text, int maxTokens) {
        Prompt p = prompts.chat(List.of(ChatMessage.user(text)), new int[0]);
        return new GenerationRequest(
                id,
                p.ids(),
                p.spans(),
                List.of(),
                model.positions(p.ids(), List.of()),
                SamplingParams.greedy(maxTokens),
                StopConditions.maxTokens(maxTokens).withEos(OptionalInt.of(151645), List.of(151645, 151643)));
    }

    static long lastPreemptions;
    static long lastMaxRunning;

    static Map<String, Collect> run(SchedulerConfig cfg, List<GenerationRequest> requests) {
        Map<String, Collect> out = new LinkedHashMap<>();
        try (EngineCore core = new EngineCore(
                model.language().orElseThrow(), backend, tokenizer, cfg, List.of(151645, 151643), new Sampler(0))) {
            for (GenerationRequest r : requests) {
                Collect c = new Collect();
                out.put(r.id(), c);
                core.submit(r, c);
            }
            int guard = 0;
            lastMaxRunning = 0;
            while (core.hasWork()) {
                core.step();
                lastMaxRunning = Math.max(lastMaxRunning, core.numRunning());
                assertTrue(++guard < 10_000, "engine did not converge");
            }
            assertEquals(0, core.usedBlocks(), "all blocks returned");
            lastPreemptions = core.stats().preemptions();
        }
        return out;
    }

    @Test
    void goldenGreedyTextThroughTheEngine() {
        for (String name : GoldenCase.NAMES) {
            Collect c = run(new SchedulerConfig(8, 2048, 4096, 16, 64), List.of(goldenRequest(name, name, 16)))
                    .get(name);
            try (GoldenCase g = GoldenCase.load(name)) {
                List<Integer> expected = new ArrayList<>();
                for (long id : g.longs("generated_ids")) {
                    expected.add((int) id);
                }
                assertEquals(expected, c.ids, name);
                assertEquals(g.json().get("generated_text").asText(), c.text.toString(), name);
                assertEquals(FinishReason.LENGTH, c.finish);
            }
        }
    }

    @Test
    void batchedChunkedAndPreemptedRunsEqualSoloRuns() {
        List<GenerationRequest> reqs = new ArrayList<>();
        reqs.add(goldenRequest("img_112x84", "a", 16));
        reqs.add(goldenRequest("img_100x61", "b", 12));
        reqs.add(textRequest("c", "Hello there, how are you?", 20));
        reqs.add(textRequest("d", "Count: one two three four five six seven eight nine ten.", 9));
        reqs.add(goldenRequest("img_100x61", "e", 5));
        Map<String, List<Integer>> solo = new LinkedHashMap<>();
        for (GenerationRequest r : reqs) {
            solo.put(
                    r.id(),
                    run(new SchedulerConfig(1, 4096, 4096, 16, 64), List.of(r)).get(r.id()).ids);
        }
        // Budget of 7 tokens per step splits every prompt into chunks, images included.
        Map<String, Collect> chunked = run(new SchedulerConfig(8, 7, 4096, 16, 64), reqs);
        assertTrue(lastMaxRunning > 1, "several sequences ran in one step");
        // 9 blocks of 4 tokens cannot hold all five: the newest are preempted and recomputed.
        Map<String, Collect> tight = run(new SchedulerConfig(8, 64, 4096, 4, 16), reqs);
        assertTrue(lastPreemptions > 0, "the tight pool forced preemptions");
        for (GenerationRequest r : reqs) {
            assertEquals(solo.get(r.id()), chunked.get(r.id()).ids, "chunked " + r.id());
            assertEquals(solo.get(r.id()), tight.get(r.id()).ids, "tight KV " + r.id());
        }
    }
}
