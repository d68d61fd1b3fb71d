package dev.jepd.bench;

import dev.jepd.bench.ModelBenchResult.DecodeResult;
import dev.jepd.bench.ModelBenchResult.FullModelEstimate;
import dev.jepd.bench.ModelBenchResult.ModelInfo;
import dev.jepd.bench.ModelBenchResult.PrefillResult;
import dev.jepd.bench.ModelBenchResult.VisionResult;
import dev.jepd.engine.generate.EngineCore;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.TokenSink;
import dev.jepd.engine.model.CausalLm;
import dev.jepd.engine.model.VisionEncoder;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.FinishReason;
import dev.jepd.engine.text.StopConditions;
import dev.jepd.engine.text.StopReason;
import dev.jepd.media.PixelValues;
import dev.jepd.media.RgbImage;
import dev.jepd.models.ModelParts;
import dev.jepd.models.qwen2.Qwen2Decoder;
import dev.jepd.models.qwenvl.VisionTowerBase;
import dev.jepd.serving.ModelRuntime;
import dev.jepd.serving.RuntimeOptions;
import dev.jepd.tensor.DType;
import dev.jepd.tensor.OpsProfile;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.torch.TorchBackend;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs {@code jepd bench model}: the backend's limits (on a backend instance of their own, before the
 * model loads and again after it is closed), and between them the vision tower, prefill and decode of a
 * Qwen2.5-VL, Qwen2-VL or Qwen3-VL checkpoint ({@link BenchModel} says what differs) through {@link ModelRuntime}
 * and its {@link EngineCore}, exactly as {@code jepd generate} runs them. Requests are built from token ids
 * directly, so the prompt has exactly the asked length.
 */
public final class ModelBench {
    private static final Logger LOG = LoggerFactory.getLogger(ModelBench.class);

    private ModelBench() {}

    public static ModelBenchResult run(Path modelDir, BenchSettings s, BackendLimits.Sizes sizes) {
        ModelBenchResult.Machine machine = ModelBenchResult.Machine.current();
        BackendLimits before = limits(sizes, s, "before loading the model");
        LOG.info("loading {}", modelDir);
        long t0 = System.nanoTime();
        BenchModel cfg = BenchModel.read(modelDir.resolve("config.json")); // refuses other architectures
        ModelInfo info;
        VisionResult vision;
        PrefillResult prefill;
        List<DecodeResult> decode = new ArrayList<>();
        try (ModelRuntime rt = ModelRuntime.open(modelDir, runtimeOptions(cfg, s), () -> backend(s))) {
            double load = (System.nanoTime() - t0) / 1e9;
            if (!rt.model().architecture().equals(cfg.architecture())) {
                throw new IllegalStateException("config.json names " + cfg.architecture() + " but the registry loaded "
                        + rt.model().architecture());
            }
            var config = rt.snapshot().config();
            // transformers 4's torch_dtype, 5's dtype, or the text config's (Qwen3-VL's hub layout)
            String checkpointDtype = config.path("torch_dtype")
                    .asText(config.path("dtype")
                            .asText(config.path("text_config").path("dtype").asText("unknown")));
            info = new ModelInfo(
                    modelDir.toString(),
                    cfg.architecture(),
                    checkpointDtype,
                    cfg.text().layers(),
                    cfg.text().hidden(),
                    cfg.text().intermediate(),
                    cfg.text().vocab(),
                    cfg.vision().depth(),
                    cfg.vision().hidden(),
                    cfg.vision().fullAttentionCount(),
                    cfg.vision().windowed(),
                    deepstackNote(cfg, s),
                    load);
            LOG.info("loaded in {} s", fmt(load));

            vision = vision(rt, cfg, s);
            prefill = prefill(rt, cfg, s);
            for (int batch : s.decodeBatches()) {
                decode.add(decode(rt, cfg, s, batch));
            }
        }
        BackendLimits after = limits(sizes, s, "after closing the model");
        BackendLimits ceiling = BackendLimits.ceiling(before, after);
        return new ModelBenchResult(
                machine.withLoadAtEnd(),
                info,
                s,
                before,
                after,
                ceiling,
                vision,
                prefill,
                decode,
                ModelBenchResult.Ratios.of(vision, prefill, decode, ceiling),
                estimate(
                        cfg, s, vision, prefill, decode, BackendLimits.Rate.max(ceiling.gemm(), ceiling.gemmLinear())));
    }

    /** On a backend instance of its own, freed before the model loads (or after it is closed). */
    private static BackendLimits limits(BackendLimits.Sizes sizes, BenchSettings s, String when) {
        try (TensorBackend ops = backend(s)) {
            ops.warmUp(); // the backend's own kernels compiled first, not while the probes run
            LOG.info("measuring the limits of {} {}", ops.name(), when);
            return BackendLimits.measure(ops, sizes, s.warmup(), s.iterations(), computeType(s));
        }
    }

    /** The backend the settings name, computing in their dtype. */
    static TensorBackend backend(BenchSettings s) {
        return switch (s.backend()) {
            case "torch" -> TorchBackend.on(dev.jepd.tensor.Device.parse(s.device()), computeType(s));
            default -> throw new IllegalArgumentException("unknown backend " + s.backend());
        };
    }

    private static DType computeType(BenchSettings s) {
        return s.dtype().equals("bfloat16") ? DType.BF16 : DType.F32;
    }

    /** Where the DeepStack mergers run, next to the full model's count; empty for a model without them. */
    static String deepstackNote(BenchModel cfg, BenchSettings s) {
        int[] ds = cfg.vision().deepstack();
        if (ds.length == 0 && s.fullDeepstackLevels() == 0) {
            return "";
        }
        return ds.length + " of " + s.fullDeepstackLevels() + " DeepStack mergers, after vision blocks "
                + Arrays.toString(ds) + " (kept inside the " + cfg.vision().depth() + " kept blocks and "
                + cfg.text().layers() + " kept text layers; the estimate adds the missing ones at the measured"
                + " merger time)";
    }

    /** Room for the largest batch's prompts in one step, and for all of its tokens in the KV cache. */
    static RuntimeOptions runtimeOptions(BenchModel cfg, BenchSettings s) {
        int batch = s.maxDecodeBatch();
        int batched = Math.max(8192, s.promptTokens() * batch);
        long perSequence = s.promptTokens() + s.warmup() + s.decodeTokens() + 16L; // + a partly filled block
        long kvBytesPerToken =
                2L * cfg.text().layers() * cfg.text().kvHeads() * cfg.text().headDim() * 4;
        long kv = Math.max(512L << 20, batch * perSequence * kvBytesPerToken * 5 / 4);
        return RuntimeOptions.defaults(ModelParts.ALL)
                .withBatching(Math.max(256, batch), batched)
                .withKvCacheBytes(kv);
    }

    // ---- vision tower

    private static VisionResult vision(ModelRuntime rt, BenchModel cfg, BenchSettings s) {
        VisionEncoder encoder = rt.model().vision().orElseThrow();
        RgbImage image = syntheticImage(s.imageSize());
        LOG.info("vision: preprocessing a {}x{} image", s.imageSize(), s.imageSize());
        Timing preprocess =
                Timing.measure(s.warmup(), s.iterations(), () -> rt.processor().process(image));
        PixelValues pixels = rt.processor().process(image);
        int tokens = pixels.numMergedTokens(cfg.vision().spatialMergeSize());
        LOG.info("vision: tower on {} ({} tokens)", pixels, tokens);
        OpsProfile.reset();

        LayerClock clock = new LayerClock("block_out.", "deepstack.", rt.backend()::synchronize);
        TensorBackend backend = rt.backend();
        Clocked run = clocked(encoder, clock, s, () -> {
            try (Scope scope = backend.open()) {
                encoder.encode(List.of(pixels), backend.ops(scope)).getFirst().toFloats(); // as a node copies it out
            }
        });
        QwenVlWork.VisionFlops flops = QwenVlWork.vision(cfg.vision(), pixels.gridT(), pixels.gridH(), pixels.gridW());

        List<Double> window = new ArrayList<>();
        List<Double> full = new ArrayList<>();
        List<Double> windowBlock0 = new ArrayList<>();
        List<Double> fullBlock0 = new ArrayList<>();
        for (double[] layers : run.layers()) {
            for (int b = 0; b < layers.length; b++) {
                // Block 0 also builds the rotary tables (and reorders patches into windows): counted only when
                // it is the only one of its kind.
                boolean isFull = cfg.vision().isFullAttention(b);
                (b == 0 ? (isFull ? fullBlock0 : windowBlock0) : (isFull ? full : window)).add(layers[b]);
            }
        }
        if (window.isEmpty()) {
            window = windowBlock0;
        }
        if (full.isEmpty()) {
            full = fullBlock0;
        }
        List<Double> deepstack = new ArrayList<>();
        for (double[] sides : run.sides()) {
            for (double x : sides) {
                deepstack.add(x);
            }
        }
        double windowBlock = median(window);
        double fullBlock = median(full);
        boolean fullMeasured = !full.isEmpty();
        if (!fullMeasured) {
            fullBlock = windowBlock * flops.fullBlock() / flops.windowBlock();
        } else if (window.isEmpty()) {
            windowBlock = fullBlock * flops.windowBlock() / flops.fullBlock();
        }
        logOpsProfile("vision tower");
        Timing tower = run.total();
        double gflops = tower.medianRate(flops.total()) / 1e9;
        return new VisionResult(
                s.imageSize(),
                new int[] {pixels.gridT(), pixels.gridH(), pixels.gridW()},
                pixels.numPatches(),
                tokens,
                preprocess,
                tower,
                1 / tower.median(),
                flops.total(),
                gflops,
                tower.bestRate(flops.total()) / 1e9,
                median(run.before()),
                windowBlock,
                flops.windowBlock(),
                fullBlock,
                flops.fullBlock(),
                fullMeasured,
                median(run.after()),
                cfg.vision().deepstack().length,
                deepstack.isEmpty() ? 0 : median(deepstack));
    }

    /** With {@code -Djepd.ops.profile=true}: the time of each op the phase called in its timed runs. */
    private static void logOpsProfile(String phase) {
        if (OpsProfile.ON) {
            LOG.info("ops of the {}, timed runs:\n{}", phase, OpsProfile.report());
        }
    }

    /** A deterministic noise image: the processor's cost does not depend on the content. */
    static RgbImage syntheticImage(int size) {
        byte[] rgb = new byte[size * size * 3];
        new SplittableRandom(7).nextBytes(rgb);
        return new RgbImage(size, size, rgb);
    }

    // ---- prefill

    private static PrefillResult prefill(ModelRuntime rt, BenchModel cfg, BenchSettings s) {
        EngineCore engine = rt.engine();
        CausalLm lm = rt.model().language().orElseThrow();
        int n = s.promptTokens();
        LOG.info("prefill: {} tokens, batch 1", n);
        OpsProfile.reset();
        LayerClock clock = new LayerClock("layer_out.", rt.backend()::synchronize);
        int[] seq = {0};
        Clocked run = clocked(lm, clock, s, () -> {
            Sink sink = new Sink();
            engine.submit(request(rt, "prefill-" + seq[0]++, n, 1, 0), sink);
            int steps = 0;
            while (engine.hasWork()) {
                clock.start();
                engine.step();
                steps++;
            }
            sink.check(1);
            if (steps != 1) {
                throw new IllegalStateException("prefill of " + n + " tokens took " + steps + " engine steps, not 1");
            }
        });
        logOpsProfile("prefill");
        long flops = QwenVlWork.prefillFlops(cfg.text(), n);
        double layer = steadyLayerMedian(run.layers());
        Timing step = run.total();
        double gflops = step.medianRate(flops) / 1e9;
        return new PrefillResult(
                n,
                step,
                n / step.median(),
                flops,
                gflops,
                step.bestRate(flops) / 1e9,
                layer,
                QwenVlWork.layerFlops(cfg.text(), n, n),
                median(sum(run.before(), run.after())));
    }

    // ---- decode

    private static DecodeResult decode(ModelRuntime rt, BenchModel cfg, BenchSettings s, int batch) {
        EngineCore engine = rt.engine();
        int n = s.promptTokens();
        int maxTokens = 1 + s.warmup() + s.decodeTokens(); // the first comes from prefill
        LOG.info("decode: batch {}, {} steps after a {}-token prompt", batch, s.decodeTokens(), n);
        OpsProfile.reset();
        List<Sink> sinks = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            Sink sink = new Sink();
            sinks.add(sink);
            engine.submit(request(rt, "decode-" + batch + "-" + b, n, maxTokens, b), sink);
        }
        LayerClock clock = new LayerClock("layer_out.", rt.backend()::synchronize);
        CausalLm lm = rt.model().language().orElseThrow();
        List<Double> steps = new ArrayList<>();
        List<double[]> layers = new ArrayList<>();
        List<Double> outside = new ArrayList<>();
        // On a device the clock waits for the queued kernels before each reading: there steps alternate between
        // clocked ones (the per-layer table) and unclocked ones (the step times); on the CPU every step is both.
        boolean[] clocking = {true};
        BiConsumer<String, dev.jepd.tensor.Tensor> tap = (k, t) -> {
            if (clocking[0]) {
                clock.accept(k, t);
            }
        };
        withTap(lm, tap, () -> {
            int seen = 0;
            while (engine.hasWork()) {
                boolean decoding = sinks.stream().allMatch(k -> k.tokens > 0 && k.finish == null);
                clocking[0] = !s.onDevice() || seen % 2 == 1;
                clock.start();
                long t0 = System.nanoTime();
                int tokens = engine.step();
                long t1 = System.nanoTime();
                if (decoding && tokens == batch && ++seen > s.warmup()) {
                    if (!s.onDevice() || !clocking[0]) {
                        steps.add((t1 - t0) / 1e9);
                    }
                    if (clocking[0]) {
                        layers.add(clock.layers());
                        outside.add(clock.beforeLayers() + clock.afterLayers(t1));
                    }
                }
            }
        });
        logOpsProfile("decode at batch " + batch + " (its prompts' prefill included)");
        for (Sink k : sinks) {
            k.check(maxTokens);
        }
        Timing step = Timing.of(steps.stream().mapToDouble(Double::doubleValue).toArray());
        long bytes = QwenVlWork.decodeWeightBytes(cfg.text(), s.bytesPerWeight());
        double gbps = step.medianRate(bytes) / 1e9;
        double layer = steadyLayerMedian(layers);
        return new DecodeResult(
                batch,
                n,
                step,
                batch / step.median(),
                bytes,
                gbps,
                step.bestRate(bytes) / 1e9,
                layer,
                QwenVlWork.layerWeightBytes(cfg.text(), s.bytesPerWeight()),
                median(outside));
    }

    /** A request of exactly {@code n} prompt tokens, greedy, ending only at {@code maxTokens}. */
    private static GenerationRequest request(ModelRuntime rt, String id, int n, int maxTokens, int variant) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            // Ordinary vocabulary ids (well below the special tokens at 151643+), different per sequence.
            ids[i] = 1000 + (int) ((i * 7919L + variant * 104729L) % 100_000);
        }
        return new GenerationRequest(
                id,
                ids,
                List.of(),
                List.of(),
                rt.model().positions(ids, List.of()),
                SamplingParams.greedy(maxTokens),
                StopConditions.maxTokens(maxTokens));
    }

    /** Counts one request's tokens; the engine reports failures here, not by throwing. */
    private static final class Sink implements TokenSink {
        int tokens;
        FinishReason finish;
        RuntimeException error;

        @Override
        public void onToken(int tokenId, String delta) {
            tokens++;
        }

        @Override
        public void onFinish(FinishReason reason, StopReason stopReason, Usage usage) {
            finish = reason;
        }

        @Override
        public void onError(RuntimeException e) {
            error = e;
        }

        void check(int expectedTokens) {
            if (error != null) {
                throw error;
            }
            if (finish == null || tokens != expectedTokens) {
                throw new IllegalStateException(
                        "request ended with " + tokens + " tokens (" + finish + "), expected " + expectedTokens);
            }
        }
    }

    // ---- full depth

    private static FullModelEstimate estimate(
            BenchModel cfg,
            BenchSettings s,
            VisionResult v,
            PrefillResult p,
            List<DecodeResult> decode,
            BackendLimits.Rate gemm) {
        int fullFullAttention = 0;
        for (int b = 0; b < s.fullVisionBlocks(); b++) {
            fullFullAttention += cfg.vision().isFullAttention(b) ? 1 : 0;
        }
        int measuredFull = 0;
        for (int b = 0; b < cfg.vision().depth(); b++) {
            measuredFull += cfg.vision().isFullAttention(b) ? 1 : 0;
        }
        int extraWindow =
                (s.fullVisionBlocks() - fullFullAttention) - (cfg.vision().depth() - measuredFull);
        int extraFull = fullFullAttention - measuredFull;
        // What was measured, plus the missing layers at their per-layer time: overheads outside the layers
        // are counted once, as in the full model.
        int extraDeepstack = Math.max(0, s.fullDeepstackLevels() - v.deepstackMergers());
        double vision = v.tower().median()
                + extraWindow * v.windowBlock()
                + extraFull * v.fullBlock()
                + extraDeepstack * v.deepstackMerger();
        int extraLayers = s.fullTextLayers() - cfg.text().layers();
        double prefill = p.step().median() + extraLayers * p.layer();
        DecodeResult d1 =
                decode.stream().filter(d -> d.batch() == 1).findFirst().orElse(null);
        double decodeStep = d1 == null ? Double.NaN : d1.step().median() + extraLayers * d1.layer();
        long bytes = s.fullTextLayers() * QwenVlWork.layerWeightBytes(cfg.text(), s.bytesPerWeight())
                + QwenVlWork.headWeightBytes(cfg.text(), s.bytesPerWeight());
        // the full model's work over the estimated times: the layers' share grows with the depth
        BenchModel.Vision cv = cfg.vision();
        BenchModel.Vision full = new BenchModel.Vision(
                s.fullVisionBlocks(),
                cv.hidden(),
                cv.heads(),
                cv.mlpWidth(),
                cv.gatedMlp(),
                cv.patchDim(),
                cv.patchSize(),
                cv.spatialMergeSize(),
                cv.outHidden(),
                cv.windowSize(),
                cv.fullAttentionBlocks(),
                new int[Math.max(cv.deepstack().length, s.fullDeepstackLevels())]);
        long visionFlops =
                QwenVlWork.vision(full, v.grid()[0], v.grid()[1], v.grid()[2]).total();
        long prefillFlops = p.flops() + extraLayers * p.layerFlops();
        return new FullModelEstimate(
                s.fullTextLayers(),
                s.fullVisionBlocks(),
                fullFullAttention,
                vision,
                1 / vision,
                prefill,
                p.tokens() / prefill,
                decodeStep,
                1 / decodeStep,
                bytes,
                visionFlops / vision / 1e9,
                visionFlops / vision / 1e9 / gemm.median(),
                prefillFlops / prefill / 1e9,
                prefillFlops / prefill / 1e9 / gemm.median());
    }

    // ---- timing with layer clocks

    /**
     * Total times of the timed runs, and per run the clock's split: before the layers, each layer, the side work
     * between layers (DeepStack mergers), after.
     */
    private record Clocked(
            Timing total, double[] before, List<double[]> layers, List<double[]> sides, double[] after) {}

    private static Clocked clocked(Object model, LayerClock clock, BenchSettings s, Runnable body) {
        double[] total = new double[s.iterations()];
        double[] before = new double[s.iterations()];
        double[] after = new double[s.iterations()];
        List<double[]> layers = new ArrayList<>();
        List<double[]> sides = new ArrayList<>();
        if (s.onDevice()) {
            // The layer clock waits for the device before each reading: the totals come from passes without it.
            for (int i = 0; i < s.warmup(); i++) {
                body.run();
            }
            for (int i = 0; i < s.iterations(); i++) {
                long t0 = System.nanoTime();
                body.run();
                total[i] = (System.nanoTime() - t0) / 1e9;
            }
        }
        withTap(model, clock, () -> {
            for (int i = 0; i < s.warmup(); i++) {
                clock.start();
                body.run();
            }
            OpsProfile.reset(); // the op table shows the timed runs alone
            for (int i = 0; i < s.iterations(); i++) {
                clock.start();
                long t0 = System.nanoTime();
                body.run();
                long t1 = System.nanoTime();
                if (!s.onDevice()) {
                    total[i] = (t1 - t0) / 1e9;
                }
                before[i] = clock.beforeLayers();
                layers.add(clock.layers());
                sides.add(clock.sides());
                after[i] = clock.afterLayers(t1);
            }
        });
        return new Clocked(Timing.of(total), before, layers, sides, after);
    }

    /** Sets the clock as the model's activation tap for {@code body}; models without taps run untimed inside. */
    private static void withTap(Object model, BiConsumer<String, dev.jepd.tensor.Tensor> tap, Runnable body) {
        switch (model) {
            case Qwen2Decoder d -> {
                d.setTap(tap);
                try {
                    body.run();
                } finally {
                    d.setTap(null);
                }
            }
            case VisionTowerBase<?> t -> {
                t.setTap(tap);
                try {
                    body.run();
                } finally {
                    t.setTap(null);
                }
            }
            default ->
                throw new UnsupportedOperationException(
                        "no layer taps on " + model.getClass().getName());
        }
    }

    /** The median layer time, leaving out layer 0 (it also builds the rotary tables and masks) when others exist. */
    private static double steadyLayerMedian(List<double[]> runs) {
        List<Double> all = new ArrayList<>();
        for (double[] layers : runs) {
            for (int l = layers.length > 1 ? 1 : 0; l < layers.length; l++) {
                all.add(layers[l]);
            }
        }
        return median(all);
    }

    private static double[] sum(double[] a, double[] b) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i] + b[i];
        }
        return out;
    }

    private static double median(List<Double> xs) {
        return xs.isEmpty()
                ? Double.NaN
                : median(xs.stream().mapToDouble(Double::doubleValue).toArray());
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    static String fmt(double v) {
        return String.format(java.util.Locale.ROOT, "%.2f", v);
    }
}
