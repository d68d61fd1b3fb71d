package dev.jepd.serving;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.engine.text.ContentPart;
import dev.jepd.media.ImageDecoder;
import dev.jepd.media.PixelBounds;
import dev.jepd.models.ModelParts;
import dev.jepd.models.golden.GoldenCase;
import dev.jepd.models.qwen25vl.Qwen25VlConfig;
import dev.jepd.models.qwen25vl.Qwen25VlWeights;
import dev.jepd.models.tiny.TinyQwen25VlWriter;
import dev.jepd.models.tiny.TinyQwen25VlWriter.Options;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** bf16 vs f32 copies, single-file vs sharded, tied vs untied: the loading path gives what it should. */
class CheckpointVariantsTest {
    @TempDir
    static Path tmp;

    static Path bf16;
    static Path f32;
    static Path sharded;
    static Path untied;

    @BeforeAll
    static void write() throws Exception {
        bf16 = TinyQwen25VlWriter.write(tmp.resolve("bf16"), Options.golden());
        f32 = TinyQwen25VlWriter.write(tmp.resolve("f32"), Options.golden().withDtype(DType.F32));
        sharded = TinyQwen25VlWriter.write(
                tmp.resolve("sharded"), Options.golden().withShards(3));
        untied =
                TinyQwen25VlWriter.write(tmp.resolve("untied"), Options.golden().withTiedEmbeddings(false));
    }

    @Test
    void bf16AndF32CopiesLoadToBitIdenticalFloats() {
        Qwen25VlConfig config = Qwen25VlConfig.read(bf16.resolve("config.json"));
        try (Checkpoint a = Checkpoint.open(bf16);
                Checkpoint b = Checkpoint.open(f32)) {
            var loader = Qwen25VlWeights.loader(false);
            var specs = new java.util.ArrayList<>(Qwen25VlWeights.language(config));
            specs.addAll(Qwen25VlWeights.vision(config));
            int n = 0;
            for (var spec : specs) {
                for (var e : spec.expand()) {
                    float[] x = a.readFloats(e.name());
                    float[] y = b.readFloats(e.name());
                    assertEquals(x.length, y.length);
                    for (int i = 0; i < x.length; i++) {
                        if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i])) {
                            throw new AssertionError(e.name() + "[" + i + "]: " + x[i] + " vs " + y[i]);
                        }
                    }
                    n++;
                }
            }
            assertEquals(80, n);
            assertEquals(DType.BF16, a.info("model.norm.weight").dtype());
            assertEquals(DType.F32, b.info("model.norm.weight").dtype());
            loader.check(a, Qwen25VlWeights.language(config), "bf16");
        }
    }

    static ModelRuntime.Generated run(Path model, int maxTokens) throws Exception {
        try (GoldenCase g = GoldenCase.load("img_112x84");
                ModelRuntime rt = ModelRuntime.open(model, RuntimeOptions.defaults(ModelParts.ALL))) {
            var img = new ImageDecoder().decode(Files.readAllBytes(g.image()));
            var enc = rt.encode(List.of(img), PixelBounds.NONE);
            var req = rt.prepare(
                    "v",
                    List.of(ChatMessage.user(new ContentPart.Image(0), new ContentPart.Text("Describe this image."))),
                    enc,
                    SamplingParams.greedy(maxTokens));
            return rt.generate(req, s -> {});
        }
    }

    @Test
    void everyCopyGivesTheGoldenAnswerAndTheUntiedHeadIsUsed() throws Exception {
        String golden;
        try (GoldenCase g = GoldenCase.load("img_112x84")) {
            golden = g.json().get("generated_text").asText();
        }
        var fromBf16 = run(bf16, 16);
        assertEquals(golden, fromBf16.text());
        assertEquals(fromBf16.tokenIds(), run(f32, 16).tokenIds());
        assertEquals(fromBf16.tokenIds(), run(sharded, 16).tokenIds());
        assertTrue(Files.exists(sharded.resolve("model.safetensors.index.json")));
        // The untied checkpoint's lm_head differs from its embedding: a different (deterministic) answer.
        var fromUntied = run(untied, 16);
        assertNotEquals(fromBf16.tokenIds(), fromUntied.tokenIds());
        assertEquals(fromUntied.tokenIds(), run(untied, 16).tokenIds());
        assertArrayEquals(new int[] {16}, new int[] {fromUntied.tokenIds().size()});
    }
}
