package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.engine.kv.PagedKvStore;
import dev.jepd.engine.model.CausalLm;
import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.MultimodalModel;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.model.SequenceChunk;
import dev.jepd.engine.sampling.Logprobs;
import dev.jepd.engine.sampling.TokenLogprobs;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.engine.text.ContentPart;
import dev.jepd.engine.text.Prompt;
import dev.jepd.engine.text.PromptBuilder;
import dev.jepd.engine.text.Tokenizer;
import dev.jepd.media.ImageDecoder;
import dev.jepd.media.ImageGrid;
import dev.jepd.media.PixelValues;
import dev.jepd.media.PreprocessorConfig;
import dev.jepd.media.QwenImageProcessor;
import dev.jepd.models.ModelParts;
import dev.jepd.models.ModelRegistry;
import dev.jepd.models.tiny.TinyModels;
import dev.jepd.models.tiny.TinyQwen2VlWriter;
import dev.jepd.models.tiny.TinyQwen3VlWriter;
import dev.jepd.tensor.DType;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.torch.TorchBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The three families computing in bf16 on libtorch (vision tower and decoder, as a node with {@code --backend
 * torch --dtype bfloat16} runs them) against Hugging Face transformers running the same tiny checkpoints in
 * bf16 ({@code cases/bf16_logprobs.json}, made by {@code make_bf16_logprobs.py}).
 *
 * <p>The tokens are held to vLLM's rule for comparing two implementations in reduced precision,
 * {@code check_logprobs_close} (vllm {@code tests/models/utils.py}): walk the two greedy sequences; equal tokens
 * continue; at the first position where they differ, each side's token must be among the other side's top-k
 * logprobs at that position (k = 5 here, vLLM's usual {@code num_logprobs}), and the comparison stops there,
 * since the sequences now diverge. Two bf16 implementations that round in different places legitimately pick
 * different tokens where the top two logits (nearly) tie; a real bug (a wrong rotary axis, a missing DeepStack
 * addition, wrong image rows) puts the other's token outside the top 5 at once.
 *
 * <p>The vision embeddings are also held to a bf16 bound against the float32 reference
 * ({@link #VISION_REL_TOL}).
 */
class Bf16LogprobsTest {
    static final int TOP = 5;

    /**
     * Bound on {@code max|bf16 − f32| / max|f32|} for the encoder's output rows (the EC rows: the merger's, and
     * Qwen3-VL's DeepStack mergers'), against the float32 goldens.
     *
     * <p>Derivation, as {@code TorchBf16ParityTest}'s: bf16 keeps 8 significant bits, so each rounding of a value
     * moves it by at most {@code 2^-9} of its magnitude ({@code 2^-8} with as much again of slack for one op);
     * composites that round a few intermediates (norms, gelu, rotary, softmax) stay within {@code 2^-6} of their
     * output's scale. A tiny tower here is 2-4 blocks, each a residual sum of two such composites (attention and
     * MLP, each ending in a bf16 linear), then the merger (norm, two linears, gelu): about 4 blocks · 2 composites
     * + 1 merger ≈ 9 chained {@code 2^-6} steps, and a step's error carries into the next through the residual
     * stream at about its own size (the blocks' gains are O(1): init scales of 1-1.5/√fan-in). So
     * {@code 9 · 2^-6 ≈ 0.14} of the output's scale is the worst case of errors that all add in one direction;
     * independent roundings add in quadrature, {@code √9 · 2^-6 ≈ 0.047}. The bound is {@code 2^-4 = 0.0625},
     * above the quadrature sum and below the worst case (measured on the six cases: 0.010-0.017). The bugs the
     * float32 goldens catch move rows by 0.25 of their scale or more, so a broken block still fails here.
     */
    static final double VISION_REL_TOL = 0x1p-4;

    record Family(String name, String casePrefix, String fixtureDir) {}

    static final List<Family> FAMILIES = List.of(
            new Family("qwen2.5-vl", "", "tiny-qwen2.5-vl"),
            new Family("qwen2-vl", "qwen2-vl_", "tiny-qwen2-vl"),
            new Family("qwen3-vl", "qwen3-vl_", "tiny-qwen3-vl"));

    static Stream<Arguments> cases() throws IOException {
        JsonNode root = reference();
        List<Arguments> out = new ArrayList<>();
        for (JsonNode c : root.get("cases")) {
            out.add(Arguments.of(c.get("family").asText(), c.get("case").asText()));
        }
        return out.stream();
    }

    static JsonNode reference() throws IOException {
        return new ObjectMapper()
                .readTree(GoldenCase.root().resolve("cases/bf16_logprobs.json").toFile());
    }

    static Path fixture(Family f) throws IOException {
        Path dir = Path.of("target", f.fixtureDir()).toAbsolutePath();
        return switch (f.name()) {
            case "qwen2.5-vl" -> TinyModels.ensureGolden(dir);
            case "qwen2-vl" -> TinyQwen2VlWriter.ensure(dir);
            case "qwen3-vl" -> TinyQwen3VlWriter.ensure(dir);
            default -> throw new IllegalArgumentException(f.name());
        };
    }

    /** One side's greedy output: the tokens and, per position, the top-k token ids. */
    record Greedy(List<Integer> ids, List<int[]> top) {}

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void bf16GreedyTokensPassVllmsLogprobsRule(String familyName, String caseName) throws IOException {
        Family family = FAMILIES.stream()
                .filter(f -> f.name().equals(familyName))
                .findFirst()
                .orElseThrow();
        JsonNode ref = null;
        for (JsonNode c : reference().get("cases")) {
            if (c.get("family").asText().equals(familyName)
                    && c.get("case").asText().equals(caseName)) {
                ref = c;
            }
        }
        Path dir = fixture(family);
        try (TensorBackend backend = TorchBackend.cpu(DType.BF16);
                MultimodalModel model = ModelRegistry.load(HfSnapshot.open(dir), backend, ModelParts.ALL);
                Tokenizer tokenizer = Tokenizer.load(dir.resolve("tokenizer.json"));
                GoldenCase g = GoldenCase.load(family.casePrefix() + caseName)) {
            QwenImageProcessor processor =
                    new QwenImageProcessor(PreprocessorConfig.read(dir.resolve("preprocessor_config.json")));
            PixelValues pv = processor.process(new ImageDecoder().decode(Files.readAllBytes(g.image())));
            float[] rows;
            try (Scope s = backend.open()) {
                rows = model.vision()
                        .orElseThrow()
                        .encode(List.of(pv), backend.ops(s))
                        .getFirst()
                        .toFloats();
            }
            CausalLm lm = model.language().orElseThrow();
            int hidden = lm.shape().hidden();
            float[] f32 = g.ecRows(hidden, lm.shape().embedWidth() / hidden - 1);
            double rel = GoldenCase.maxAbsDiff(f32, rows) / maxAbs(f32);
            System.out.printf(
                    "bf16 %s %s: vision rows max|bf16-f32|/max|f32| = %.4f (bound %.4f)%n",
                    familyName, caseName, rel, VISION_REL_TOL);
            assertTrue(rel <= VISION_REL_TOL, familyName + " " + caseName + ": bf16 vision rows off by " + rel);

            ImageGrid ig = new ImageGrid(pv.gridT(), pv.gridH(), pv.gridW(), model.mergeSize());
            Prompt p = new PromptBuilder(tokenizer, model.specialTokens(), model.chatTemplate())
                    .chat(
                            List.of(ChatMessage.user(
                                    new ContentPart.Image(0), new ContentPart.Text("Describe this image."))),
                            new int[] {ig.numTokens()});
            assertEquals(ref.get("prompt_tokens").asInt(), p.ids().length, "the reference's prompt length");
            int steps = ref.get("generated_ids").size();
            Greedy jepd = generate(model, backend, p, ig, rows, steps);
            Greedy hf = fromJson(ref);
            int agreed = checkLogprobsClose(jepd, hf, familyName + " " + caseName);
            System.out.printf(
                    "bf16 %s %s: %d of %d greedy tokens equal to Hugging Face's bf16 before the first difference%n",
                    familyName, caseName, agreed, steps);
        }
    }

    /**
     * vLLM's {@code check_logprobs_close} for one prompt: returns how many leading tokens were equal; fails if
     * at the first difference either token is outside the other side's top-k.
     */
    static int checkLogprobsClose(Greedy a, Greedy b, String what) {
        int n = Math.min(a.ids().size(), b.ids().size());
        for (int i = 0; i < n; i++) {
            int ta = a.ids().get(i);
            int tb = b.ids().get(i);
            if (ta != tb) {
                assertTrue(
                        contains(b.top().get(i), ta),
                        what + ": at step " + i + " JEPD's token " + ta + " is not in Hugging Face's top-" + TOP + " "
                                + Arrays.toString(b.top().get(i)) + " (JEPD's top: "
                                + Arrays.toString(a.top().get(i)) + ")");
                assertTrue(
                        contains(a.top().get(i), tb),
                        what + ": at step " + i + " Hugging Face's token " + tb + " is not in JEPD's top-" + TOP + " "
                                + Arrays.toString(a.top().get(i)));
                return i; // the sequences diverge from here
            }
        }
        return n;
    }

    private static boolean contains(int[] xs, int x) {
        return Arrays.stream(xs).anyMatch(v -> v == x);
    }

    private static Greedy fromJson(JsonNode c) {
        List<Integer> ids = new ArrayList<>();
        c.get("generated_ids").forEach(t -> ids.add(t.asInt()));
        List<int[]> top = new ArrayList<>();
        for (JsonNode step : c.get("top_logprobs")) {
            int[] t = new int[step.get("ids").size()];
            for (int i = 0; i < t.length; i++) {
                t[i] = step.get("ids").get(i).asInt();
            }
            top.add(t);
        }
        return new Greedy(ids, top);
    }

    /** Prefill with the image rows injected, then greedy decode; the top-k of every step's logits. */
    private static Greedy generate(
            MultimodalModel model, TensorBackend backend, Prompt p, ImageGrid ig, float[] rows, int steps) {
        CausalLm lm = model.language().orElseThrow();
        var shape = lm.shape();
        int[] ids = p.ids();
        PromptPositions pos = model.positions(ids, List.of(ig));
        int start = p.spans().getFirst().start();
        int blockSize = 16;
        int blocks = (ids.length + steps) / blockSize + 2;
        long[] slots = new long[blocks * blockSize];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = i;
        }
        List<Integer> out = new ArrayList<>();
        List<int[]> top = new ArrayList<>();
        try (PagedKvStore kv =
                new PagedKvStore(backend, shape.layers(), shape.kvHeads(), shape.headDim(), blocks, blockSize)) {
            float[] logits = GoldenCase.forward(
                    lm,
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
            int seqLen = ids.length;
            for (int step = 0; step < steps; step++) {
                int next = GoldenCase.argmax(logits);
                TokenLogprobs lp = Logprobs.of(logits, next, TOP);
                out.add(next);
                top.add(contains(lp.topTokenIds(), next) ? lp.topTokenIds() : append(lp.topTokenIds(), next));
                if (step + 1 == steps) {
                    break;
                }
                logits = GoldenCase.forward(
                        lm,
                        backend,
                        new SequenceChunk(
                                new int[] {next},
                                PromptPositions.decode(pos.positions().length, seqLen, 1, pos.delta()),
                                new long[] {slots[seqLen]},
                                Arrays.copyOf(slots, seqLen + 1),
                                seqLen,
                                List.of(),
                                true),
                        kv);
                seqLen++;
            }
        }
        return new Greedy(out, top);
    }

    /** As vLLM lists the sampled token beside the top-k even where a tie ordered it out of them. */
    private static int[] append(int[] xs, int x) {
        int[] out = Arrays.copyOf(xs, xs.length + 1);
        out[xs.length] = x;
        return out;
    }

    private static double maxAbs(float[] xs) {
        double m = 0;
        for (float v : xs) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
