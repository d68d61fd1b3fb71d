package dev.jepd.models.tiny;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.engine.io.AtomicFiles;
import dev.jepd.engine.model.WeightSpec;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.models.qwen25vl.Qwen25VlWeights;
import dev.jepd.models.qwen2vl.Qwen2VlArchitecture;
import dev.jepd.models.qwen2vl.Qwen2VlConfig;
import dev.jepd.models.qwen2vl.Qwen2VlWeights;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Writes the tiny deterministic Qwen2-VL snapshot the Qwen2-VL goldens were made from: the tiny Qwen2.5-VL's
 * text part (same decoder, tokenizer, processor) with Qwen2-VL's vision tower (depth 2, embed 80, 4 heads,
 * MLP ratio 2, out 64) in the published flat layout, weights BF16 from {@link CounterWeights} with the
 * same init rules as the Qwen2.5-VL fixture for the same kinds of tensors.
 */
public final class TinyQwen2VlWriter {
    private TinyQwen2VlWriter() {}

    /** Qwen2-VL's vision tensors: the rule of the Qwen2.5-VL tensor of the same role (LayerNorm biases 0.1). */
    static final List<Qwen25VlLayout.InitRule> VISION_INIT = List.of(
            Qwen25VlLayout.InitRule.fanIn(Qwen2VlWeights.PATCH_EMBED, 1.0),
            Qwen25VlLayout.InitRule.norm(vision(Qwen2VlWeights.NORM1_W), 0.25),
            Qwen25VlLayout.InitRule.constant(vision(Qwen2VlWeights.NORM1_B), 0.1),
            Qwen25VlLayout.InitRule.norm(vision(Qwen2VlWeights.NORM2_W), 0.25),
            Qwen25VlLayout.InitRule.constant(vision(Qwen2VlWeights.NORM2_B), 0.1),
            Qwen25VlLayout.InitRule.fanIn(vision(Qwen2VlWeights.QKV_W), 1.5),
            Qwen25VlLayout.InitRule.constant(vision(Qwen2VlWeights.QKV_B), 0.2),
            Qwen25VlLayout.InitRule.fanIn(vision(Qwen2VlWeights.PROJ_W), 1.0),
            Qwen25VlLayout.InitRule.constant(vision(Qwen2VlWeights.PROJ_B), 0.1),
            Qwen25VlLayout.InitRule.fanIn(vision(Qwen2VlWeights.FC1_W), 1.0),
            Qwen25VlLayout.InitRule.constant(vision(Qwen2VlWeights.FC1_B), 0.1),
            Qwen25VlLayout.InitRule.fanIn(vision(Qwen2VlWeights.FC2_W), 1.0),
            Qwen25VlLayout.InitRule.constant(vision(Qwen2VlWeights.FC2_B), 0.1),
            Qwen25VlLayout.InitRule.norm(Qwen2VlWeights.MERGER_NORM_W, 0.25),
            Qwen25VlLayout.InitRule.constant(Qwen2VlWeights.MERGER_NORM_B, 0.1),
            Qwen25VlLayout.InitRule.fanIn(Qwen2VlWeights.MERGER_FC1_W, 1.0),
            Qwen25VlLayout.InitRule.constant(Qwen2VlWeights.MERGER_FC1_B, 0.1),
            Qwen25VlLayout.InitRule.fanIn(Qwen2VlWeights.MERGER_FC2_W, 2.0),
            Qwen25VlLayout.InitRule.constant(Qwen2VlWeights.MERGER_FC2_B, 0.1));

    /**
     * Qwen2-VL-2B-Instruct's dimensions (the hub's config.json: text hidden 1536, intermediate 8960, 12 heads, 2 KV
     * heads, vocab 151936, rope theta 1e6, M-RoPE sections [16, 24, 24], tied embeddings; vision embed_dim 1280,
     * 16 heads, MLP ratio 4, merger out 1536, patch 14, merge 2) with fewer layers, for benchmarks. The real model
     * has 28 text layers and 32 vision blocks (transformers' own defaults are the 7B's).
     */
    public record Qwen2BShaped(int textLayers, int visionBlocks) {
        public Qwen2BShaped {
            if (textLayers < 1 || visionBlocks < 1) {
                throw new IllegalArgumentException("a 2B-shaped model needs at least one text layer and one vision"
                        + " block, got " + textLayers + " and " + visionBlocks);
            }
        }
    }

    /** config.json: the tiny Qwen2.5-VL's with Qwen2-VL's architecture and vision config. */
    public static ObjectNode config() {
        ObjectNode c = TinyQwen25VlWriter.config(TinyQwen25VlWriter.Options.golden());
        c.putArray("architectures").add(Qwen2VlArchitecture.NAME);
        c.put("model_type", "qwen2_vl");
        ObjectNode v = c.putObject("vision_config");
        v.put("depth", 2);
        v.put("embed_dim", 80);
        v.put("hidden_size", 64);
        v.put("hidden_act", "quick_gelu");
        v.put("mlp_ratio", 2);
        v.put("num_heads", 4);
        v.put("in_chans", 3);
        v.put("patch_size", 14);
        v.put("spatial_merge_size", 2);
        v.put("temporal_patch_size", 2);
        return c;
    }

    /** config.json of a {@link Qwen2BShaped} checkpoint stored as {@code dtype}. */
    public static ObjectNode config(Qwen2BShaped shape, DType dtype) {
        ObjectNode c = config();
        c.put("torch_dtype", dtype == DType.F32 ? "float32" : "bfloat16");
        c.put("hidden_size", 1536);
        c.put("intermediate_size", 8960);
        c.put("num_attention_heads", 12);
        c.put("num_key_value_heads", 2);
        c.put("num_hidden_layers", shape.textLayers());
        c.put("vocab_size", 151936);
        c.put("rope_theta", 1000000.0);
        c.put("tie_word_embeddings", true);
        var section = ((ObjectNode) c.get("rope_scaling")).putArray("mrope_section");
        section.add(16).add(24).add(24);
        ObjectNode v = (ObjectNode) c.get("vision_config");
        v.put("depth", shape.visionBlocks());
        v.put("embed_dim", 1280);
        v.put("hidden_size", 1536);
        v.put("mlp_ratio", 4);
        v.put("num_heads", 16);
        return c;
    }

    /** Every tensor of the golden tiny checkpoint, sorted by name (the order of the file). */
    public static List<TensorSpec> tensors() {
        return tensors(config());
    }

    /** Every tensor {@code config} calls for, sorted by name. */
    public static List<TensorSpec> tensors(ObjectNode config) {
        Qwen2VlConfig cfg;
        try {
            cfg = Qwen2VlConfig.fromJson(config);
        } catch (IOException e) {
            throw new UncheckedIOException("the generated config.json does not parse", e);
        }
        List<TensorSpec> out = new ArrayList<>();
        for (WeightSpec.Expected e : Qwen25VlWeights.languageTable(cfg.text()).expand()) {
            out.add(Qwen25VlLayout.spec(e.name(), e.shape()));
        }
        for (WeightSpec.Expected e : Qwen2VlWeights.visionTable(cfg).expand()) {
            out.add(Qwen25VlLayout.spec(VISION_INIT, e.name(), e.shape()));
        }
        out.sort(Comparator.comparing(TensorSpec::name));
        return out;
    }

    /** Writes the golden tiny snapshot into {@code dir} (created if needed) unless it is already complete. */
    public static Path ensure(Path dir) throws IOException {
        List<TensorSpec> tensors = tensors();
        Path weights = dir.resolve(Checkpoint.SINGLE);
        long expected = GeneratedSafetensors.header(tensors, DType.BF16).length
                + GeneratedSafetensors.dataBytes(tensors, DType.BF16);
        boolean complete = Files.isRegularFile(dir.resolve(TinyQwen25VlWriter.CONFIG))
                && Stream.of(TinyQwen25VlWriter.COPIED_FILES.toArray(String[]::new))
                        .allMatch(f -> Files.isRegularFile(dir.resolve(f)))
                && Files.isRegularFile(weights)
                && Files.size(weights) == expected;
        if (complete) {
            return dir;
        }
        return write(dir, config(), DType.BF16);
    }

    /** Writes a snapshot of {@code config} with weights stored as {@code dtype} into {@code dir}; returns it. */
    public static Path write(Path dir, ObjectNode config, DType dtype) throws IOException {
        List<TensorSpec> tensors = tensors(config);
        Files.createDirectories(dir);
        AtomicFiles.write(dir.resolve(TinyQwen25VlWriter.CONFIG), TinyQwen25VlWriter.pretty(config));
        for (String f : TinyQwen25VlWriter.COPIED_FILES) {
            byte[] bytes = TinyQwen25VlWriter.resource(f);
            if (f.equals("preprocessor_config.json")) { // the same processing, under Qwen2-VL's class names
                bytes = new String(bytes, java.nio.charset.StandardCharsets.UTF_8)
                        .replace("Qwen2_5_VLImageProcessor", "Qwen2VLImageProcessor")
                        .replace("Qwen2_5_VLProcessor", "Qwen2VLProcessor")
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
            }
            AtomicFiles.write(dir.resolve(f), bytes);
        }
        GeneratedSafetensors.write(dir.resolve(Checkpoint.SINGLE), tensors, dtype, CounterWeights.GOLDEN_SEED);
        return dir;
    }

    private static String vision(String relative) {
        return Qwen2VlWeights.BLOCKS + relative;
    }
}
