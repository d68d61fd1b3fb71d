package dev.jepd.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Everything one {@code jepd bench model} run measured; {@link BenchTable} prints it, Jackson writes it.
 * The limits are measured twice, before the model loads and after it is closed, because on a shared
 * machine a neighbour's build can halve them for a minute; the {@code ceiling} is the better of the two
 * per probe, and the ratios divide by it.
 */
public record ModelBenchResult(
        @JsonProperty("machine") Machine machine,
        @JsonProperty("model") ModelInfo model,
        @JsonProperty("settings") BenchSettings settings,
        @JsonProperty("limits_before") BackendLimits limitsBefore,
        @JsonProperty("limits_after") BackendLimits limitsAfter,
        @JsonProperty("ceiling") BackendLimits ceiling,
        @JsonProperty("vision") VisionResult vision,
        @JsonProperty("prefill") PrefillResult prefill,
        @JsonProperty("decode") List<DecodeResult> decode,
        @JsonProperty("ratios") Ratios ratios,
        @JsonProperty("full_model_estimate") FullModelEstimate fullModel) {

    /** Writes this result as indented JSON (snake_case keys, seconds and bytes as plain numbers). */
    public void writeJson(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), this);
    }

    /**
     * Where it ran. The load averages (1 minute, -1 where the OS has none) tell whether other work shared
     * the CPUs: at the end they include the benchmark's own threads.
     */
    public record Machine(
            @JsonProperty("cpus") int cpus,
            @JsonProperty("os") String os,
            @JsonProperty("java") String java,
            @JsonProperty("max_heap_bytes") long maxHeapBytes,
            @JsonProperty("load_average_start") double loadAverageStart,
            @JsonProperty("load_average_end") double loadAverageEnd,
            @JsonProperty("omp_wait_policy") String ompWaitPolicy) {
        static Machine current() {
            return new Machine(
                    Runtime.getRuntime().availableProcessors(),
                    System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                            + System.getProperty("os.arch"),
                    System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"),
                    Runtime.getRuntime().maxMemory(),
                    loadAverage(),
                    Double.NaN,
                    // libtorch's OpenMP threads spin while waiting by default; on a CPU shared with other work
                    // PASSIVE changes small-op timings by an order of magnitude, so a result records it.
                    System.getenv().getOrDefault("OMP_WAIT_POLICY", "unset"));
        }

        Machine withLoadAtEnd() {
            return new Machine(cpus, os, java, maxHeapBytes, loadAverageStart, loadAverage(), ompWaitPolicy);
        }

        private static double loadAverage() {
            return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        }
    }

    /** The checkpoint: its dimensions and how many layers it has. */
    public record ModelInfo(
            @JsonProperty("dir") String dir,
            @JsonProperty("architecture") String architecture,
            @JsonProperty("checkpoint_dtype") String checkpointDtype,
            @JsonProperty("text_layers") int textLayers,
            @JsonProperty("text_hidden") int textHidden,
            @JsonProperty("text_intermediate") int textIntermediate,
            @JsonProperty("vocab") int vocab,
            @JsonProperty("vision_blocks") int visionBlocks,
            @JsonProperty("vision_hidden") int visionHidden,
            @JsonProperty("vision_full_attention_blocks") int visionFullAttentionBlocks,
            @JsonProperty("vision_windowed") boolean visionWindowed,
            @JsonProperty("deepstack") String deepstack,
            @JsonProperty("load_s") double loadSeconds) {}

    /**
     * The vision tower on one square image.
     *
     * @param preprocess the image processor on a synthetic RGB image of that size
     * @param tower {@code VisionEncoder.encode} of the processor's pixel values
     * @param flops analytic FLOPs of one image through the tower ({@link QwenVlWork#vision})
     * @param patchEmbed seconds before the first block (pixels to the backend, patch embedding)
     * @param windowBlock median seconds of a windowed-attention block (block 0, which also reorders the
     *     patches into windows and builds the rotary tables, only when it is the only one)
     * @param fullBlock median seconds of a full-attention block, or a FLOP-scaled estimate from the windowed
     *     one when the shortened tower has none ({@code fullBlockMeasured} false)
     * @param merger seconds from the last block (or the DeepStack merger after it) to the embeddings back in Java
     * @param deepstackMergers DeepStack mergers run per image (Qwen3-VL), 0 for none
     * @param deepstackMerger median seconds of one DeepStack merger (timed apart from the blocks), 0 for none
     */
    public record VisionResult(
            @JsonProperty("image_size") int imageSize,
            @JsonProperty("grid") int[] grid,
            @JsonProperty("patches") int patches,
            @JsonProperty("tokens") int tokens,
            @JsonProperty("preprocess") Timing preprocess,
            @JsonProperty("tower") Timing tower,
            @JsonProperty("images_per_s") double imagesPerSecond,
            @JsonProperty("flops") long flops,
            @JsonProperty("gflops_per_s") double gflops,
            @JsonProperty("gflops_per_s_best") double gflopsBest,
            @JsonProperty("patch_embed_s") double patchEmbed,
            @JsonProperty("window_block_s") double windowBlock,
            @JsonProperty("window_block_flops") long windowBlockFlops,
            @JsonProperty("full_block_s") double fullBlock,
            @JsonProperty("full_block_flops") long fullBlockFlops,
            @JsonProperty("full_block_measured") boolean fullBlockMeasured,
            @JsonProperty("merger_s") double merger,
            @JsonProperty("deepstack_mergers") int deepstackMergers,
            @JsonProperty("deepstack_merger_s") double deepstackMerger) {}

    /**
     * One prompt's prefill at batch 1: one engine step (scheduling, the forward pass, the head on the last
     * row, sampling the first token).
     *
     * @param layer median seconds of one decoder layer
     * @param outsideLayers median step time minus the layers: embedding, final norm, LM head, sampling,
     *     scheduling
     */
    public record PrefillResult(
            @JsonProperty("tokens") int tokens,
            @JsonProperty("step") Timing step,
            @JsonProperty("tokens_per_s") double tokensPerSecond,
            @JsonProperty("flops") long flops,
            @JsonProperty("gflops_per_s") double gflops,
            @JsonProperty("gflops_per_s_best") double gflopsBest,
            @JsonProperty("layer_s") double layer,
            @JsonProperty("layer_flops") long layerFlops,
            @JsonProperty("outside_layers_s") double outsideLayers) {}

    /**
     * Decode steps at one batch size, every sequence {@code context} tokens in.
     *
     * @param step per-step times
     * @param weightBytes f32 weight bytes one step reads ({@link QwenVlWork#decodeWeightBytes})
     * @param weightGbPerS weight bytes per second at the median step
     * @param weightGbPerSBest at the best step
     */
    public record DecodeResult(
            @JsonProperty("batch") int batch,
            @JsonProperty("context") int context,
            @JsonProperty("step") Timing step,
            @JsonProperty("tokens_per_s") double tokensPerSecond,
            @JsonProperty("weight_bytes") long weightBytes,
            @JsonProperty("weight_gb_per_s") double weightGbPerS,
            @JsonProperty("weight_gb_per_s_best") double weightGbPerSBest,
            @JsonProperty("layer_s") double layer,
            @JsonProperty("layer_weight_bytes") long layerWeightBytes,
            @JsonProperty("outside_layers_s") double outsideLayers) {}

    /**
     * Achieved rates over the backend's ceiling, at the median (model median over ceiling median) and at
     * the best sample (best over best). The GEMM ceiling is the faster of the two square products ({@code matmul}
     * and {@code linear}): on a CPU with AMX, {@code linear} runs JEPD's own GEMM, which beats libtorch's there, so
     * the models' products are held to the best this backend does, not to libtorch's alone.
     */
    public record Ratios(
            @JsonProperty("vision_of_gemm") Ratio visionOfGemm,
            @JsonProperty("prefill_of_gemm") Ratio prefillOfGemm,
            @JsonProperty("decode") List<DecodeRatios> decode) {

        static Ratios of(VisionResult v, PrefillResult p, List<DecodeResult> decode, BackendLimits ceiling) {
            BackendLimits.Rate gemm = BackendLimits.Rate.max(ceiling.gemm(), ceiling.gemmLinear());
            List<DecodeRatios> d = decode.stream()
                    .map(r -> new DecodeRatios(
                            r.batch(),
                            new Ratio(
                                    r.weightGbPerS() / ceiling.read().median(),
                                    r.weightGbPerSBest() / ceiling.read().best()),
                            new Ratio(
                                    r.weightGbPerS() / ceiling.gemv().median(),
                                    r.weightGbPerSBest() / ceiling.gemv().best())))
                    .toList();
            return new Ratios(
                    new Ratio(v.gflops() / gemm.median(), v.gflopsBest() / gemm.best()),
                    new Ratio(p.gflops() / gemm.median(), p.gflopsBest() / gemm.best()),
                    d);
        }
    }

    public record Ratio(
            @JsonProperty("median") double median,
            @JsonProperty("best") double best) {}

    /** Decode's weight-read rate over the read probe's and over the streaming GEMV's. */
    public record DecodeRatios(
            @JsonProperty("batch") int batch,
            @JsonProperty("of_read") Ratio ofRead,
            @JsonProperty("of_gemv") Ratio ofGemv) {}

    /**
     * The measured parts scaled to the full depth: per-layer times × the full layer count, plus what lies
     * outside the layers once. An estimate, not a measurement; its GFLOP/s are the full model's FLOPs over the
     * estimated (median) times, and their ratios divide by the faster GEMM probe's median, as {@link Ratios} do.
     */
    public record FullModelEstimate(
            @JsonProperty("text_layers") int textLayers,
            @JsonProperty("vision_blocks") int visionBlocks,
            @JsonProperty("vision_full_attention_blocks") int visionFullAttentionBlocks,
            @JsonProperty("vision_s") double visionSeconds,
            @JsonProperty("images_per_s") double imagesPerSecond,
            @JsonProperty("prefill_s") double prefillSeconds,
            @JsonProperty("prefill_tokens_per_s") double prefillTokensPerSecond,
            @JsonProperty("decode_batch1_step_s") double decodeStepSeconds,
            @JsonProperty("decode_batch1_tokens_per_s") double decodeTokensPerSecond,
            @JsonProperty("decode_weight_bytes") long decodeWeightBytes,
            @JsonProperty("vision_gflops_per_s") double visionGflops,
            @JsonProperty("vision_of_gemm") double visionOfGemm,
            @JsonProperty("prefill_gflops_per_s") double prefillGflops,
            @JsonProperty("prefill_of_gemm") double prefillOfGemm) {}
}
