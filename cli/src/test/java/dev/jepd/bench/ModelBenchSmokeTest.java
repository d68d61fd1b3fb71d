package dev.jepd.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.bench.BackendLimits.Rate;
import dev.jepd.bench.ModelBenchResult.DecodeResult;
import dev.jepd.models.tiny.TinyModels;
import dev.jepd.models.tiny.TinyQwen2VlWriter;
import dev.jepd.models.tiny.TinyQwen3VlWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole bench on the golden tiny model, one iteration, small probes: every number comes out positive
 * and finite, and the table and JSON are written. Speed is never asserted (DESIGN §6).
 */
class ModelBenchSmokeTest {
    /** The same engine path on the libtorch backend computing in bf16: the model runs, the numbers are real. */
    @Test
    void runsOnTheTinyModelOnLibtorchInBf16() throws IOException {
        Path dir = TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        BenchSettings s = new BenchSettings(112, 24, 3, List.of(1, 2), 0, 1, 36, 32, "torch", "bfloat16");
        ModelBenchResult r = ModelBench.run(dir, s, BackendLimits.Sizes.small());
        assertTrue(
                r.ceiling().backend().startsWith("torch (libtorch"), r.ceiling().backend());
        assertTrue(
                r.ceiling().gemm().label().startsWith("bf16 GEMM"),
                r.ceiling().gemm().label());
        positive("bf16 GEMM", r.ceiling().gemm().median());
        positive("images/s", r.vision().imagesPerSecond());
        positive("prefill tokens/s", r.prefill().tokensPerSecond());
        for (DecodeResult d : r.decode()) {
            positive("decode tokens/s", d.tokensPerSecond());
        }
        assertTrue(BenchTable.render(r).contains("backend torch, compute bfloat16"), BenchTable.render(r));
    }

    @Test
    void runsOnTheTinyModel(@TempDir Path tmp) throws IOException {
        Path dir = TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        BenchSettings s = new BenchSettings(112, 24, 3, List.of(1, 2), 0, 1, 36, 32);
        ModelBenchResult r = ModelBench.run(dir, s, BackendLimits.Sizes.small());

        for (BackendLimits l : List.of(r.limitsBefore(), r.limitsAfter(), r.ceiling())) {
            for (Rate rate : List.of(
                    l.gemm(),
                    l.gemmLinear(),
                    l.gemv(),
                    l.gemvFlops(),
                    l.read(),
                    l.copyFresh(),
                    l.copyInPlace(),
                    l.segmentCopy())) {
                positive(rate.label(), rate.median());
                positive(rate.label(), rate.best());
            }
        }
        assertEquals(
                Math.max(r.limitsBefore().gemm().best(), r.limitsAfter().gemm().best()),
                r.ceiling().gemm().best());
        positive("vision of GEMM", r.ratios().visionOfGemm().median());
        positive("prefill of GEMM", r.ratios().prefillOfGemm().best());
        assertEquals(2, r.ratios().decode().size());
        positive("decode of read", r.ratios().decode().get(1).ofRead().median());
        assertEquals(2, r.model().textLayers());
        assertEquals(4, r.model().visionBlocks());
        assertEquals(2, r.model().visionFullAttentionBlocks());

        var v = r.vision();
        assertEquals(64, v.patches(), "112 px = 8x8 patches");
        assertEquals(16, v.tokens());
        positive("images/s", v.imagesPerSecond());
        positive("vision GFLOP/s", v.gflops());
        positive("window block", v.windowBlock());
        positive("full block", v.fullBlock());
        assertTrue(v.fullBlockMeasured(), "blocks 1 and 3 have full attention");
        positive("patch embed", v.patchEmbed());
        positive("merger", v.merger());
        assertEquals(QwenVlWork.vision(QwenVlWorkTest.tiny().vision(), 1, 8, 8).total(), v.flops());

        var p = r.prefill();
        assertEquals(24, p.tokens());
        positive("prefill tokens/s", p.tokensPerSecond());
        positive("prefill layer", p.layer());
        positive("prefill outside layers", p.outsideLayers());

        assertEquals(2, r.decode().size());
        for (DecodeResult d : r.decode()) {
            assertEquals(3, d.step().samples(), "decode tokens are timed steps");
            positive("decode tokens/s", d.tokensPerSecond());
            positive("decode GB/s", d.weightGbPerS());
            positive("decode layer", d.layer());
            positive("decode outside layers", d.outsideLayers());
        }
        positive("full-depth images/s", r.fullModel().imagesPerSecond());
        positive("full-depth prefill", r.fullModel().prefillTokensPerSecond());
        positive("full-depth decode", r.fullModel().decodeTokensPerSecond());
        // the full model's work over its estimated time: more work than the measured depth did, and the ratio is
        // that rate over the GEMM probe's
        var f = r.fullModel();
        assertTrue(f.visionGflops() * f.visionSeconds() * 1e9 > r.vision().flops(), "full-depth vision FLOPs");
        assertTrue(f.prefillGflops() * f.prefillSeconds() * 1e9 > p.flops(), "full-depth prefill FLOPs");
        double gemm =
                Math.max(r.ceiling().gemm().median(), r.ceiling().gemmLinear().median());
        assertEquals(f.visionGflops() / gemm, f.visionOfGemm(), 1e-9);
        positive("full-depth prefill of GEMM", f.prefillOfGemm());

        String table = BenchTable.render(r);
        assertTrue(table.contains("images/s") && table.contains("decode, batch 2"), table);
        Path json = tmp.resolve("bench.json");
        r.writeJson(json);
        JsonNode node = new ObjectMapper().readTree(Files.readString(json));
        assertEquals(24, node.path("prefill").path("tokens").asInt());
        assertTrue(node.path("ceiling").path("gemm").path("median").asDouble() > 0);
        assertTrue(node.path("ratios")
                        .path("decode")
                        .get(0)
                        .path("of_read")
                        .path("best")
                        .asDouble()
                > 0);
    }

    /**
     * The other families on their tiny fixtures: Qwen2-VL (full attention in every block, no windows) and Qwen3-VL
     * (DeepStack mergers after blocks 0 and 1, timed apart from the blocks; the estimate adds the third merger of
     * the 4B model at that time).
     */
    @Test
    void runsOnTheTinyQwen2VlAndQwen3Vl() throws IOException {
        Path qwen2 = TinyQwen2VlWriter.ensure(Path.of("target", "tiny-qwen2-vl").toAbsolutePath());
        BenchSettings s2 = new BenchSettings(112, 24, 3, List.of(1), 0, 1, 28, 32, "torch", "float32", "cpu", 0);
        ModelBenchResult r2 = ModelBench.run(qwen2, s2, BackendLimits.Sizes.small());
        assertEquals("Qwen2VLForConditionalGeneration", r2.model().architecture());
        assertEquals(2, r2.model().visionBlocks());
        assertEquals(2, r2.model().visionFullAttentionBlocks());
        assertEquals("", r2.model().deepstack());
        assertEquals(16, r2.vision().tokens(), "112 px at patch 14 = 8x8 patches = 16 tokens");
        assertTrue(r2.vision().fullBlockMeasured());
        assertEquals(0, r2.vision().deepstackMergers());
        allPositive(r2);
        String t2 = BenchTable.render(r2);
        assertTrue(t2.contains("full attention in every block") && !t2.contains("windowed attention"), t2);

        Path qwen3 = TinyQwen3VlWriter.ensure(Path.of("target", "tiny-qwen3-vl").toAbsolutePath());
        BenchSettings s3 = new BenchSettings(112, 24, 3, List.of(1), 0, 1, 36, 24, "torch", "float32", "cpu", 3);
        ModelBenchResult r3 = ModelBench.run(qwen3, s3, BackendLimits.Sizes.small());
        assertEquals("Qwen3VLForConditionalGeneration", r3.model().architecture());
        assertEquals(3, r3.model().visionBlocks());
        assertEquals(2, r3.vision().deepstackMergers());
        positive("DeepStack merger", r3.vision().deepstackMerger());
        assertTrue(
                r3.model().deepstack().startsWith("2 of 3 DeepStack mergers, after vision blocks [0, 1]"),
                r3.model().deepstack());
        // 112 px is below the 4B processor's minimum: upscaled to 256 x 256 = 16 x 16 patches of 16 = 64 tokens
        assertEquals(64, r3.vision().tokens());
        assertEquals(
                QwenVlWork.vision(BenchModel.read(qwen3.resolve("config.json")).vision(), 1, 16, 16)
                        .total(),
                r3.vision().flops());
        allPositive(r3);
        String t3 = BenchTable.render(r3);
        assertTrue(t3.contains("DeepStack merger, each of 2") && t3.contains("2 of 3 DeepStack mergers"), t3);
    }

    private static void allPositive(ModelBenchResult r) {
        positive("images/s", r.vision().imagesPerSecond());
        positive("vision block", r.vision().fullBlock());
        positive("prefill tokens/s", r.prefill().tokensPerSecond());
        positive("prefill layer", r.prefill().layer());
        for (DecodeResult d : r.decode()) {
            positive("decode tokens/s", d.tokensPerSecond());
            positive("decode layer", d.layer());
        }
        positive("full-depth images/s", r.fullModel().imagesPerSecond());
        positive("full-depth decode", r.fullModel().decodeTokensPerSecond());
    }

    private static void positive(String what, double v) {
        assertTrue(v > 0 && Double.isFinite(v), what + " = " + v);
    }
}
