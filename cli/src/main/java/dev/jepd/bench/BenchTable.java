package dev.jepd.bench;

import dev.jepd.bench.BackendLimits.Rate;
import dev.jepd.bench.ModelBenchResult.DecodeRatios;
import dev.jepd.bench.ModelBenchResult.DecodeResult;
import dev.jepd.bench.ModelBenchResult.FullModelEstimate;
import dev.jepd.bench.ModelBenchResult.ModelInfo;
import dev.jepd.bench.ModelBenchResult.PrefillResult;
import dev.jepd.bench.ModelBenchResult.Ratio;
import dev.jepd.bench.ModelBenchResult.VisionResult;
import java.util.List;
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
        line(b, "  model    %s", m.dir());
        if (!m.deepstack().isEmpty()) {
            line(b, "           %s", m.deepstack());
        }
        line(
                b,
                "           checkpoint %s, backend %s, compute %s; text hidden %d, vocab %d; vision hidden %d; loaded in"
                        + " %.1f s",
                m.checkpointDtype(),
                s.backend(),
                s.dtype(),
                m.textHidden(),
                m.vocab(),
                m.visionHidden(),
                m.loadSeconds());
        line(
                b,
                "  backend  %s on %d CPUs, OMP_WAIT_POLICY %s; %s",
                r.limitsBefore().backend(),
                r.machine().cpus(),
                r.machine().ompWaitPolicy(),
                r.machine().java());
        line(
                b,
                "  load     1-min load average %.2f at start, %.2f at end (the end includes this run's own threads)",
                r.machine().loadAverageStart(),
                r.machine().loadAverageEnd());
        line(
                b,
                "  runs     %d warmup + %d timed; decode: %d timed steps per batch; rates at the median and best sample",
                s.warmup(),
                s.iterations(),
                s.decodeTokens());
        b.append('\n');

        BackendLimits before = r.limitsBefore();
        BackendLimits after = r.limitsAfter();
        line(
                b,
                "%-66s %-8s %17s %17s",
                "Backend limits (same backend, through the tensor SPI)",
                "unit",
                "before the model",
                "after the model");
        line(b, "%-66s %-8s %8s %8s %8s %8s", "", "", "median", "best", "median", "best");
        List<Rate> rb = rates(before);
        List<Rate> ra = rates(after);
        for (int i = 0; i < rb.size(); i++) {
            Rate x = rb.get(i);
            Rate y = ra.get(i);
            line(
                    b,
                    "  %-64s %-8s %8.1f %8.1f %8.1f %8.1f",
                    x.label(),
                    x.unit(),
                    x.median(),
                    x.best(),
                    y.median(),
                    y.best());
        }
        line(b, "  (the ratios below divide by the better of the two, probe by probe; of GEMM: the faster GEMM)");
        b.append('\n');

        VisionResult v = r.vision();
        PrefillResult p = r.prefill();
        var ratios = r.ratios();
        line(
                b,
                "%-46s %-9s %8s %8s   %-24s %s",
                "Model",
                "unit",
                "median",
                "best",
                "achieved (median, best)",
                "of the limit (median, best)");
        line(
                b,
                "  %-44s %-9s %8.2f %8.2f   %-24s %s",
                String.format(Locale.ROOT, "vision tower, %dx%d image", v.imageSize(), v.imageSize()),
                "images/s",
                1 / v.tower().median(),
                1 / v.tower().min(),
                String.format(Locale.ROOT, "%.1f, %.1f GFLOP/s", v.gflops(), v.gflopsBest()),
                pair(ratios.visionOfGemm()) + " of GEMM");
        line(
                b,
                "  %-44s",
                String.format(
                        Locale.ROOT,
                        "  (%d patches -> %d tokens, %.1f GFLOP)",
                        v.patches(),
                        v.tokens(),
                        v.flops() / 1e9));
        line(
                b,
                "  %-44s %-9s %8.1f %8.1f",
                "  image preprocessing (Java, one thread)",
                "ms",
                v.preprocess().median() * 1e3,
                v.preprocess().min() * 1e3);
        line(
                b,
                "  %-44s %-9s %8.1f %8.1f   %-24s %s",
                "prefill, " + p.tokens() + " tokens, batch 1",
                "tokens/s",
                p.tokensPerSecond(),
                p.tokens() / p.step().min(),
                String.format(Locale.ROOT, "%.1f, %.1f GFLOP/s", p.gflops(), p.gflopsBest()),
                pair(ratios.prefillOfGemm()) + " of GEMM");
        for (int i = 0; i < r.decode().size(); i++) {
            DecodeResult d = r.decode().get(i);
            DecodeRatios dr = ratios.decode().get(i);
            line(
                    b,
                    "  %-44s %-9s %8.2f %8.2f   %-24s %s",
                    "decode, batch " + d.batch() + ", context " + d.context(),
                    "tokens/s",
                    d.tokensPerSecond(),
                    d.batch() / d.step().min(),
                    String.format(Locale.ROOT, "%.1f, %.1f GB/s weights", d.weightGbPerS(), d.weightGbPerSBest()),
                    pair(dr.ofRead()) + " of read, " + pair(dr.ofGemv()) + " of GEMV");
        }
        b.append('\n');

        line(b, "Per layer (median; the full model repeats these linearly)");
        if (m.visionWindowed()) {
            line(
                    b,
                    "  %-66s %9.1f ms  %6.1f GFLOP/s",
                    "vision block, windowed attention",
                    v.windowBlock() * 1e3,
                    v.windowBlockFlops() / v.windowBlock() / 1e9);
        }
        line(
                b,
                "  %-66s %9.1f ms  %6.1f GFLOP/s%s",
                m.visionWindowed() ? "vision block, full attention" : "vision block (full attention in every block)",
                v.fullBlock() * 1e3,
                v.fullBlockFlops() / v.fullBlock() / 1e9,
                v.fullBlockMeasured() ? "" : "  (none at this depth: windowed block scaled by FLOPs)");
        if (v.deepstackMergers() > 0) {
            line(
                    b,
                    "  %-66s %9.1f ms",
                    "vision DeepStack merger, each of " + v.deepstackMergers() + " (timed apart from the blocks)",
                    v.deepstackMerger() * 1e3);
        }
        line(b, "  %-66s %9.1f ms", "vision before the blocks (pixels in, patch embedding)", v.patchEmbed() * 1e3);
        line(b, "  %-66s %9.1f ms", "vision after the blocks (merger, embeddings out)", v.merger() * 1e3);
        line(
                b,
                "  %-66s %9.1f ms  %6.1f GFLOP/s",
                "decoder layer, prefill " + p.tokens() + " tokens",
                p.layer() * 1e3,
                p.layerFlops() / p.layer() / 1e9);
        line(
                b,
                "  %-66s %9.1f ms",
                "decoder outside the layers, prefill (embedding, LM head, sampling)",
                p.outsideLayers() * 1e3);
        for (DecodeResult d : r.decode()) {
            long head = d.weightBytes() - (long) m.textLayers() * d.layerWeightBytes();
            line(
                    b,
                    "  %-66s %9.2f ms  %6.1f GB/s",
                    "decoder layer, decode batch " + d.batch() + " (" + mb(d.layerWeightBytes()) + " of weights)",
                    d.layer() * 1e3,
                    d.layerWeightBytes() / d.layer() / 1e9);
            line(
                    b,
                    "  %-66s %9.2f ms  %6.1f GB/s",
                    "decoder outside the layers, decode batch " + d.batch() + " (LM head " + mb(head) + ")",
                    d.outsideLayers() * 1e3,
                    head / d.outsideLayers() / 1e9);
        }
        b.append('\n');

        FullModelEstimate f = r.fullModel();
        line(
                b,
                "Estimate at full depth (%d text layers, %d vision blocks of which %d full-attention):",
                f.textLayers(),
                f.visionBlocks(),
                f.visionFullAttentionBlocks());
        line(b, "the median run plus the missing layers at their median per-layer time");
        line(
                b,
                "  vision tower   %8.3f images/s  (%.2f s per %dx%d image; %.1f GFLOP/s, %.0f%% of GEMM)",
                f.imagesPerSecond(),
                f.visionSeconds(),
                v.imageSize(),
                v.imageSize(),
                f.visionGflops(),
                f.visionOfGemm() * 100);
        line(
                b,
                "  prefill        %8.1f tokens/s  (%.2f s for %d tokens; %.1f GFLOP/s, %.0f%% of GEMM)",
                f.prefillTokensPerSecond(),
                f.prefillSeconds(),
                p.tokens(),
                f.prefillGflops(),
                f.prefillOfGemm() * 100);
        line(
                b,
                "  decode, b=1    %8.2f tokens/s  (%.0f ms per step, %s of %s weights read)",
                f.decodeTokensPerSecond(),
                f.decodeStepSeconds() * 1e3,
                mb(f.decodeWeightBytes()),
                r.settings().dtype());
        return b.toString();
    }

    private static List<Rate> rates(BackendLimits l) {
        return List.of(
                l.gemm(),
                l.gemmLinear(),
                l.gemvFlops(),
                l.gemv(),
                l.read(),
                l.copyFresh(),
                l.copyInPlace(),
                l.segmentCopy());
    }

    private static void line(StringBuilder b, String format, Object... args) {
        b.append(String.format(Locale.ROOT, format, args)).append('\n');
    }

    private static String pair(Ratio r) {
        return String.format(Locale.ROOT, "%.0f%%, %.0f%%", r.median() * 100, r.best() * 100);
    }

    private static String mb(long bytes) {
        return bytes >= 1e9
                ? String.format(Locale.ROOT, "%.2f GB", bytes / 1e9)
                : String.format(Locale.ROOT, "%.0f MB", bytes / 1e6);
    }
}
