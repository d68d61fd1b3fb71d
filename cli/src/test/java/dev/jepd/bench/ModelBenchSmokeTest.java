package dev.jepd.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.bench.BackendLimits.Rate;
import dev.jepd.bench.ModelBenchResult.DecodeResult;
import dev.jepd.models.tiny.TinyModels;
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
        assertEquals(
                Qwen25VlWork.vision(Qwen25VlWorkTest.tiny().vision(), 1, 8, 8).total(), v.flops());

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

    private static void positive(String what, double v) {
        assertTrue(v > 0 && Double.isFinite(v), what + " = " + v);
    }
}
