package dev.jepd.models.bench;

import dev.jepd.models.bench.BackendLimits.Rate;
import dev.jepd.models.bench.ModelBenchResult.DecodeResult;
import dev.jepd.models.bench.ModelBenchResult.FullModelEstimate;
import dev.jepd.models.bench.ModelBenchResult.ModelInfo;
import dev.jepd.models.bench.ModelBenchResult.PrefillResult;
import dev.jepd.models.bench.ModelBenchResult.VisionResult;
import java.util.Locale;

/** The human-readable report of a {@link ModelBenchResult}: limits first, then the model next to them. */
public final class BenchTable {
    private BenchTable() {}

    public static String render(ModelBenchResult r) {
        StringBuilder b = new StringBuilder();
        ModelInfo m = r.model();
        BenchSettings s = r.settings();
        line(
                b,
                "jepd bench model: %s, %d of %d text layers, %d of %d vision blocks, random weights",
                m.architecture(),
                m.textLayers(),
                s.fullTextLayers(),
                m.visionBlocks(),
                s.fullVisionBlocks());
        line(
                b,
                "  model    %s (checkpoint %s, compute f32; text hidden %d, vocab %d; vision hidden %d), loaded in %.1f s",
                m.dir(),
                m.checkpointDtype(),
                m.textHidden(),
                m.vocab(),
                m.visionHidden(),
                m.loadSeconds());
        line(
                b,
                "  backend  %s on %d CPUs; %s; load average %.2f at start, %.2f at end (includes this run)",
                r.limits().backend(),
                r.machine().cpus(),
                r.machine().java(),
                r.machine().loadAverageStart(),
                r.machine().loadAverageEnd());
        line(
                b,
                "  runs     %d warmup + %d timed (decode: %d timed steps per batch); median and best",
                s.warmup(),
                s.iterations(),
                s.decodeTokens());
        b.append('\n');

        BackendLimits l = r.limits();
        line(
                b,
                "%-66s %-8s %9s %9s",
                "Backend limits (same backend, through the tensor SPI)",
                "unit",
                "median",
                "best");
        for (Rate rate : new Rate[] {
            l.gemm(), l.gemmLinear(), l.gemvFlops(), l.gemv(), l.read(), l.copyFresh(), l.copyInPlace(), l.segmentCopy()
        }) {
            line(b, "  %-64s %-8s %9.1f %9.1f", rate.label(), rate.unit(), rate.median(), rate.best());
        }
        b.append('\n');

        VisionResult v = r.vision();
        PrefillResult p = r.prefill();
        line(b, "%-46s %-9s %9s %9s   %-18s %s", "Model", "unit", "median", "best", "achieved", "of limit (median)");
        line(
                b,
                "  %-44s %-9s %9.2f %9.2f   %-18s %s",
                String.format(
                        Locale.ROOT,
                        "vision tower, %dx%d image (%d patches -> %d tokens)",
                        v.imageSize(),
                        v.imageSize(),
                        v.patches(),
                        v.tokens()),
                "images/s",
                1 / v.tower().median(),
                1 / v.tower().min(),
                String.format(Locale.ROOT, "%.1f GFLOP/s", v.gflops()),
                pct(v.ofGemmPeak()) + " of GEMM");
        line(
                b,
                "  %-44s %-9s %9.1f %9.1f",
                "  image preprocessing (processor, CPU, Java)",
                "ms",
                v.preprocess().median() * 1e3,
                v.preprocess().min() * 1e3);
        line(
                b,
                "  %-44s %-9s %9.1f %9.1f   %-18s %s",
                "prefill, " + p.tokens() + " tokens, batch 1",
                "tokens/s",
                p.tokensPerSecond(),
                p.tokens() / p.step().min(),
                String.format(Locale.ROOT, "%.1f GFLOP/s", p.gflops()),
                pct(p.ofGemmPeak()) + " of GEMM");
        for (DecodeResult d : r.decode()) {
            line(
                    b,
                    "  %-44s %-9s %9.1f %9.1f   %-18s %s",
                    "decode, batch " + d.batch() + ", context " + d.context(),
                    "tokens/s",
                    d.tokensPerSecond(),
                    d.batch() / d.step().min(),
                    String.format(Locale.ROOT, "%.1f GB/s weights", d.weightGbPerS()),
                    pct(d.ofRead()) + " of read, " + pct(d.ofGemv()) + " of GEMV");
        }
        b.append('\n');

        line(b, "Per layer (median; the full model repeats these linearly)");
        line(
                b,
                "  %-62s %8.1f ms  %6.1f GFLOP/s",
                "vision block, windowed attention",
                v.windowBlock() * 1e3,
                v.windowBlockFlops() / v.windowBlock() / 1e9);
        line(
                b,
                "  %-62s %8.1f ms  %6.1f GFLOP/s%s",
                "vision block, full attention",
                v.fullBlock() * 1e3,
                v.fullBlockFlops() / v.fullBlock() / 1e9,
                v.fullBlockMeasured() ? "" : "  (not in this depth: scaled by FLOPs)");
        line(b, "  %-62s %8.1f ms", "vision before the blocks (pixels in, patch embedding)", v.patchEmbed() * 1e3);
        line(b, "  %-62s %8.1f ms", "vision after the blocks (merger, embeddings out)", v.merger() * 1e3);
        line(
                b,
                "  %-62s %8.1f ms  %6.1f GFLOP/s",
                "decoder layer, prefill " + p.tokens() + " tokens",
                p.layer() * 1e3,
                p.layerFlops() / p.layer() / 1e9);
        line(
                b,
                "  %-62s %8.1f ms",
                "decoder outside the layers, prefill (embed, norm, LM head, sample)",
                p.outsideLayers() * 1e3);
        for (DecodeResult d : r.decode()) {
            line(
                    b,
                    "  %-62s %8.2f ms  %6.1f GB/s",
                    "decoder layer, decode batch " + d.batch() + " (" + mb(d.layerWeightBytes()) + " weights)",
                    d.layer() * 1e3,
                    d.layerWeightBytes() / d.layer() / 1e9);
            line(
                    b,
                    "  %-62s %8.2f ms  %6.1f GB/s",
                    "decoder outside the layers, decode batch " + d.batch() + " (LM head "
                            + mb(d.weightBytes() - r.model().textLayers() * d.layerWeightBytes()) + ")",
                    d.outsideLayers() * 1e3,
                    (d.weightBytes() - r.model().textLayers() * d.layerWeightBytes()) / d.outsideLayers() / 1e9);
        }
        b.append('\n');

        FullModelEstimate f = r.fullModel();
        line(
                b,
                "Estimate at full depth (%d text layers, %d vision blocks of which %d full-attention): measured + missing layers x per-layer time",
                f.textLayers(),
                f.visionBlocks(),
                f.visionFullAttentionBlocks());
        line(
                b,
                "  vision tower   %8.2f images/s  (%.2f s per %dx%d image)",
                f.imagesPerSecond(),
                f.visionSeconds(),
                v.imageSize(),
                v.imageSize());
        line(
                b,
                "  prefill        %8.1f tokens/s  (%.2f s for %d tokens)",
                f.prefillTokensPerSecond(),
                f.prefillSeconds(),
                p.tokens());
        line(
                b,
                "  decode, b=1    %8.2f tokens/s  (%.1f ms per step, %s of f32 weights read)",
                f.decodeTokensPerSecond(),
                f.decodeStepSeconds() * 1e3,
                mb(f.decodeWeightBytes()));
        return b.toString();
    }

    private static void line(StringBuilder b, String format, Object... args) {
        b.append(String.format(Locale.ROOT, format, args)).append('\n');
    }

    private static String pct(double ratio) {
        return String.format(Locale.ROOT, "%.0f%%", ratio * 100);
    }

    private static String mb(long bytes) {
        return bytes >= 1e9
                ? String.format(Locale.ROOT, "%.2f GB", bytes / 1e9)
                : String.format(Locale.ROOT, "%.0f MB", bytes / 1e6);
    }
}
