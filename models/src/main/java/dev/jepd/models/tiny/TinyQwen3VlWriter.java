package dev.jepd.models.tiny;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.engine.io.AtomicFiles;
import dev.jepd.engine.model.WeightSpec;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.models.qwen2.Qwen2Weights;
import dev.jepd.models.qwen3vl.Qwen3VlArchitecture;
import dev.jepd.models.qwen3vl.Qwen3VlConfig;
import dev.jepd.models.qwen3vl.Qwen3VlWeights;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Writes the tiny deterministic Qwen3-VL snapshot the Qwen3-VL goldens were made from, in the hub's layout
 * ({@code text_config} / {@code vision_config}; tensors under {@code model.language_model.},
 * {@code model.visual.} and tied to the embedding, as Qwen3-VL-2B): a Qwen3 decoder (hidden 64, 2 layers, 4
 * heads, 2 KV heads, head_dim 16, interleaved M-RoPE [4, 2, 2]) and a vision tower (depth 3, hidden 64, 4 heads,
 * patch 16, a 16 × 16 learned position grid, DeepStack at blocks 0 and 1), the tiny Qwen2.5-VL's tokenizer and
 * Qwen3-VL-2B's processor settings. Weights BF16 from {@link CounterWeights} with the Qwen2.5-VL fixture's init
 * rules for tensors of the same role.
 */
public final class TinyQwen3VlWriter {
    private TinyQwen3VlWriter() {}

    /** Where the hub checkpoints keep the two components (transformers 5's names). */
    private static final String STORED_TEXT = "model.language_model.";

    private static final String STORED_VISION = "model.visual.";
    /** The text decoder's prefix in its table (Qwen2ForCausalLM's). */
    private static final String TEXT = "model.";

    /** Qwen3-VL's own tensors: the rule of the Qwen2.5-VL tensor of the same role (biases 0.1, norms 0.25). */
    static final List<Qwen25VlLayout.InitRule> INIT = init();

    private static List<Qwen25VlLayout.InitRule> init() {
        List<Qwen25VlLayout.InitRule> r = new ArrayList<>(List.of(
                Qwen25VlLayout.InitRule.norm(Qwen2Weights.LAYERS + Qwen2Weights.Q_NORM, 0.25),
                Qwen25VlLayout.InitRule.norm(Qwen2Weights.LAYERS + Qwen2Weights.K_NORM, 0.25),
                Qwen25VlLayout.InitRule.fanIn(Qwen3VlWeights.PATCH_EMBED_W, 1.0),
                Qwen25VlLayout.InitRule.constant(Qwen3VlWeights.PATCH_EMBED_B, 0.1),
                Qwen25VlLayout.InitRule.constant(Qwen3VlWeights.POS_EMBED, 0.5),
                Qwen25VlLayout.InitRule.norm(block(Qwen3VlWeights.NORM1_W), 0.25),
                Qwen25VlLayout.InitRule.constant(block(Qwen3VlWeights.NORM1_B), 0.1),
                Qwen25VlLayout.InitRule.norm(block(Qwen3VlWeights.NORM2_W), 0.25),
                Qwen25VlLayout.InitRule.constant(block(Qwen3VlWeights.NORM2_B), 0.1),
                Qwen25VlLayout.InitRule.fanIn(block(Qwen3VlWeights.QKV_W), 1.5),
                Qwen25VlLayout.InitRule.constant(block(Qwen3VlWeights.QKV_B), 0.2),
                Qwen25VlLayout.InitRule.fanIn(block(Qwen3VlWeights.PROJ_W), 1.0),
                Qwen25VlLayout.InitRule.constant(block(Qwen3VlWeights.PROJ_B), 0.1),
                Qwen25VlLayout.InitRule.fanIn(block(Qwen3VlWeights.FC1_W), 1.0),
                Qwen25VlLayout.InitRule.constant(block(Qwen3VlWeights.FC1_B), 0.1),
                Qwen25VlLayout.InitRule.fanIn(block(Qwen3VlWeights.FC2_W), 1.0),
                Qwen25VlLayout.InitRule.constant(block(Qwen3VlWeights.FC2_B), 0.1)));
        for (String merger : List.of(Qwen3VlWeights.MERGER, Qwen3VlWeights.DEEPSTACK)) {
            r.add(Qwen25VlLayout.InitRule.norm(merger + Qwen3VlWeights.M_NORM_W, 0.25));
            r.add(Qwen25VlLayout.InitRule.constant(merger + Qwen3VlWeights.M_NORM_B, 0.1));
            r.add(Qwen25VlLayout.InitRule.fanIn(merger + Qwen3VlWeights.M_FC1_W, 1.0));
            r.add(Qwen25VlLayout.InitRule.constant(merger + Qwen3VlWeights.M_FC1_B, 0.1));
            r.add(Qwen25VlLayout.InitRule.fanIn(merger + Qwen3VlWeights.M_FC2_W, 2.0));
            r.add(Qwen25VlLayout.InitRule.constant(merger + Qwen3VlWeights.M_FC2_B, 0.1));
        }
        return List.copyOf(r);
    }

    /** config.json, keys as the hub's Qwen3-VL config.json orders them (alphabetically). */
    public static ObjectNode config() {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode c = f.objectNode();
        c.putArray("architectures").add(Qwen3VlArchitecture.NAME);
        c.put("image_token_id", 151655);
        c.put("model_type", "qwen3_vl");
        ObjectNode t = c.putObject("text_config");
        t.put("attention_bias", false);
        t.put("attention_dropout", 0.0);
        t.put("bos_token_id", 151643);
        t.put("dtype", "bfloat16");
        t.put("eos_token_id", 151645);
        t.put("head_dim", 16);
        t.put("hidden_act", "silu");
        t.put("hidden_size", 64);
        t.put("initializer_range", 0.02);
        t.put("intermediate_size", 128);
        t.put("max_position_embeddings", 262144);
        t.put("model_type", "qwen3_vl_text");
        t.put("num_attention_heads", 4);
        t.put("num_hidden_layers", 2);
        t.put("num_key_value_heads", 2);
        t.put("rms_norm_eps", 1e-6);
        ObjectNode rope = t.putObject("rope_scaling");
        rope.put("mrope_interleaved", true);
        rope.putArray("mrope_section").add(4).add(2).add(2);
        rope.put("rope_type", "default");
        t.put("rope_theta", 5000000);
        t.put("tie_word_embeddings", false);
        t.put("use_cache", true);
        t.put("vocab_size", 151936);
        c.put("tie_word_embeddings", false);
        c.put("transformers_version", "4.57.0.dev0");
        c.put("video_token_id", 151656);
        ObjectNode v = c.putObject("vision_config");
        v.putArray("deepstack_visual_indexes").add(0).add(1);
        v.put("depth", 3);
        v.put("hidden_act", "gelu_pytorch_tanh");
        v.put("hidden_size", 64);
        v.put("in_channels", 3);
        v.put("initializer_range", 0.02);
        v.put("intermediate_size", 128);
        v.put("model_type", "qwen3_vl");
        v.put("num_heads", 4);
        v.put("num_position_embeddings", 256);
        v.put("out_hidden_size", 64);
        v.put("patch_size", 16);
        v.put("spatial_merge_size", 2);
        v.put("temporal_patch_size", 2);
        c.put("vision_end_token_id", 151653);
        c.put("vision_start_token_id", 151652);
        return c;
    }

    /**
     * Qwen3-VL-4B-Instruct's dimensions (the hub's config.json: text hidden 2560, intermediate 9728, 32 heads, 8 KV
     * heads, head_dim 128, vocab 151936, rope theta 5e6, interleaved M-RoPE [24, 20, 20], tied embeddings; vision
     * hidden 1024, intermediate 4096, 16 heads, patch 16, merge 2, out 2560, a 48 × 48 learned position grid,
     * DeepStack after blocks 5, 11 and 17) with fewer layers, for benchmarks. The real model has 36 text layers and
     * 24 vision blocks (transformers' own defaults are the 8B's).
     *
     * <p>The DeepStack mergers must still run in a shortened tower: {@link #deepstackIndexes} keeps as many levels as
     * there are text layers (each level is added after one decoder layer), at the real indexes when they fall inside
     * the kept blocks, else spread over the kept blocks.
     */
    public record Qwen4BShaped(int textLayers, int visionBlocks) {
        /** Qwen3-VL-4B's {@code deepstack_visual_indexes}. */
        public static final int[] REAL_DEEPSTACK = {5, 11, 17};

        public Qwen4BShaped {
            if (textLayers < 1 || visionBlocks < 1) {
                throw new IllegalArgumentException("a 4B-shaped model needs at least one text layer and one vision"
                        + " block, got " + textLayers + " and " + visionBlocks);
            }
        }

        /** The DeepStack indexes the shortened checkpoint gets (see the record's comment). */
        public int[] deepstackIndexes() {
            int levels = Math.min(REAL_DEEPSTACK.length, textLayers);
            int[] out = new int[levels];
            boolean inside = REAL_DEEPSTACK[levels - 1] < visionBlocks;
            for (int j = 0; j < levels; j++) {
                out[j] = inside ? REAL_DEEPSTACK[j] : Math.min(visionBlocks - 1, j * visionBlocks / levels);
            }
            return out;
        }
    }

    /** config.json of a {@link Qwen4BShaped} checkpoint stored as {@code dtype}. */
    public static ObjectNode config(Qwen4BShaped shape, DType dtype) {
        ObjectNode c = config();
        String d = dtype == DType.F32 ? "float32" : "bfloat16";
        c.put("tie_word_embeddings", true);
        ObjectNode t = (ObjectNode) c.get("text_config");
        t.put("dtype", d);
        t.put("head_dim", 128);
        t.put("hidden_size", 2560);
        t.put("intermediate_size", 9728);
        t.put("num_attention_heads", 32);
        t.put("num_hidden_layers", shape.textLayers());
        t.put("num_key_value_heads", 8);
        ((ObjectNode) t.get("rope_scaling"))
                .putArray("mrope_section")
                .add(24)
                .add(20)
                .add(20);
        t.put("tie_word_embeddings", true);
        ObjectNode v = (ObjectNode) c.get("vision_config");
        var ds = v.putArray("deepstack_visual_indexes");
        for (int i : shape.deepstackIndexes()) {
            ds.add(i);
        }
        v.put("depth", shape.visionBlocks());
        v.put("hidden_size", 1024);
        v.put("intermediate_size", 4096);
        v.put("num_heads", 16);
        v.put("num_position_embeddings", 2304);
        v.put("out_hidden_size", 2560);
        return c;
    }

    /** preprocessor_config.json as Qwen3-VL-2B-Instruct's: pixel bounds as {@code size}, patch 16, mean/std 0.5. */
    public static ObjectNode preprocessorConfig() {
        ObjectNode p = JsonNodeFactory.instance.objectNode();
        ObjectNode size = p.putObject("size");
        size.put("longest_edge", 16777216);
        size.put("shortest_edge", 65536);
        p.put("patch_size", 16);
        p.put("temporal_patch_size", 2);
        p.put("merge_size", 2);
        p.putArray("image_mean").add(0.5).add(0.5).add(0.5);
        p.putArray("image_std").add(0.5).add(0.5).add(0.5);
        p.put("processor_class", "Qwen3VLProcessor");
        p.put("image_processor_type", "Qwen2VLImageProcessorFast");
        return p;
    }

    public static Qwen3VlConfig parsedConfig() {
        return parse(config());
    }

    private static Qwen3VlConfig parse(ObjectNode config) {
        try {
            return Qwen3VlConfig.fromJson(config);
        } catch (IOException e) {
            throw new UncheckedIOException("the generated config.json does not parse", e);
        }
    }

    /** Every tensor of the golden tiny checkpoint under its stored (hub) name, sorted by name. */
    public static List<TensorSpec> tensors() {
        return tensors(config());
    }

    /** Every tensor {@code config} calls for under its stored (hub) name, sorted by name (the order of the file). */
    public static List<TensorSpec> tensors(ObjectNode config) {
        Qwen3VlConfig cfg = parse(config);
        List<TensorSpec> out = new ArrayList<>();
        for (WeightSpec.Expected e : Qwen2Weights.table(cfg.textParams()).expand()) {
            TensorSpec s = Qwen25VlLayout.spec(INIT, e.name(), e.shape());
            String n = e.name();
            out.add(stored(s, n.startsWith(TEXT) ? STORED_TEXT + n.substring(TEXT.length()) : n)); // lm_head stays
        }
        for (WeightSpec.Expected e : Qwen3VlWeights.visionTable(cfg).expand()) {
            TensorSpec s = Qwen25VlLayout.spec(INIT, e.name(), e.shape());
            out.add(stored(s, STORED_VISION + e.name().substring(QwenVlCheckpoint.VISION.length())));
        }
        out.sort(Comparator.comparing(TensorSpec::name));
        return out;
    }

    /** The spec under its stored name (the one its values are generated from). */
    private static TensorSpec stored(TensorSpec canonical, String storedName) {
        return new TensorSpec(storedName, canonical.shape(), canonical.kind(), canonical.scale());
    }

    /** Writes the snapshot into {@code dir} (created if needed) unless it is already complete; returns it. */
    public static Path ensure(Path dir) throws IOException {
        List<TensorSpec> tensors = tensors();
        Path weights = dir.resolve(Checkpoint.SINGLE);
        long expected = GeneratedSafetensors.header(tensors, DType.BF16).length
                + GeneratedSafetensors.dataBytes(tensors, DType.BF16);
        List<String> files = List.of("generation_config.json", "tokenizer.json", "tokenizer_config.json");
        boolean complete = Files.isRegularFile(dir.resolve(TinyQwen25VlWriter.CONFIG))
                && Files.isRegularFile(dir.resolve("preprocessor_config.json"))
                && files.stream().allMatch(f -> Files.isRegularFile(dir.resolve(f)))
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
        AtomicFiles.write(dir.resolve("preprocessor_config.json"), TinyQwen25VlWriter.pretty(preprocessorConfig()));
        for (String f : List.of("generation_config.json", "tokenizer.json", "tokenizer_config.json")) {
            AtomicFiles.write(dir.resolve(f), TinyQwen25VlWriter.resource(f));
        }
        GeneratedSafetensors.write(dir.resolve(Checkpoint.SINGLE), tensors, dtype, CounterWeights.GOLDEN_SEED);
        return dir;
    }

    private static String block(String relative) {
        return Qwen3VlWeights.BLOCKS + relative;
    }
}
