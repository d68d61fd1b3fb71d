package dev.jepd.models.tiny;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * The tensors of a Qwen2.5-VL checkpoint in Hugging Face's layout, derived from its config.json, and how
 * the generator initialises each one. Both are tables: {@link #PARAMS} (name template, where it repeats,
 * shape) and {@link #INIT} (name pattern, kind, scale). {@code {}} in a name stands for a layer index.
 *
 * <p>Scales reproduce the golden tiny checkpoint and carry over to any dimensions: {@code fanIn(g)} means
 * {@code g / sqrt(fan_in)} with {@code fan_in = numel / shape[0]} (e.g. 1/sqrt(1176) for the patch embedding,
 * 1.5/sqrt(80) for the tiny vision qkv), {@code constant(s)} a fixed scale (embeddings, biases), {@code norm(s)}
 * norm weights {@code 1 + u * s}. The untied {@code lm_head.weight} gets the embedding's 0.5, so an untied
 * model's logits have the same statistics as the tied one's.
 */
public final class Qwen25VlLayout {
    /** Where a parameter template repeats. */
    private enum Scope {
        ONCE,
        TEXT_LAYER,
        VISION_BLOCK
    }

    private record Param(String template, Scope scope, Function<Dims, long[]> shape) {}

    /** One row of the init table; {@code fanInScaled} divides {@code gain} by sqrt(fan_in). */
    record InitRule(String template, Pattern pattern, TensorSpec.Kind kind, double gain, boolean fanInScaled) {
        static InitRule fanIn(String template, double gain) {
            return new InitRule(template, compile(template), TensorSpec.Kind.W, gain, true);
        }

        static InitRule constant(String template, double scale) {
            return new InitRule(template, compile(template), TensorSpec.Kind.W, scale, false);
        }

        static InitRule norm(String template, double scale) {
            return new InitRule(template, compile(template), TensorSpec.Kind.N, scale, false);
        }

        private static Pattern compile(String template) {
            return Pattern.compile(Pattern.quote(template).replace("{}", "\\E\\d+\\Q"));
        }

        double scale(long[] shape) {
            if (!fanInScaled) {
                return gain;
            }
            long fanIn = 1;
            for (int i = 1; i < shape.length; i++) {
                fanIn *= shape[i];
            }
            return gain / Math.sqrt(fanIn);
        }
    }

    public static final String LM_HEAD = "lm_head.weight";

    private static final List<Param> PARAMS = List.of(
            once("model.embed_tokens.weight", d -> dims(d.vocab(), d.hidden())),
            text("model.layers.{}.input_layernorm.weight", d -> dims(d.hidden())),
            text("model.layers.{}.self_attn.q_proj.weight", d -> dims(d.heads() * d.headDim(), d.hidden())),
            text("model.layers.{}.self_attn.q_proj.bias", d -> dims(d.heads() * d.headDim())),
            text("model.layers.{}.self_attn.k_proj.weight", d -> dims(d.kvHeads() * d.headDim(), d.hidden())),
            text("model.layers.{}.self_attn.k_proj.bias", d -> dims(d.kvHeads() * d.headDim())),
            text("model.layers.{}.self_attn.v_proj.weight", d -> dims(d.kvHeads() * d.headDim(), d.hidden())),
            text("model.layers.{}.self_attn.v_proj.bias", d -> dims(d.kvHeads() * d.headDim())),
            text("model.layers.{}.self_attn.o_proj.weight", d -> dims(d.hidden(), d.heads() * d.headDim())),
            text("model.layers.{}.post_attention_layernorm.weight", d -> dims(d.hidden())),
            text("model.layers.{}.mlp.gate_proj.weight", d -> dims(d.intermediate(), d.hidden())),
            text("model.layers.{}.mlp.up_proj.weight", d -> dims(d.intermediate(), d.hidden())),
            text("model.layers.{}.mlp.down_proj.weight", d -> dims(d.hidden(), d.intermediate())),
            once("model.norm.weight", d -> dims(d.hidden())),
            once(
                    "visual.patch_embed.proj.weight", // Conv3d [out, in, t, h, w]
                    d -> dims(d.visionHidden(), d.inChans(), d.temporalPatch(), d.patch(), d.patch())),
            vision("visual.blocks.{}.norm1.weight", d -> dims(d.visionHidden())),
            vision("visual.blocks.{}.attn.qkv.weight", d -> dims(3L * d.visionHidden(), d.visionHidden())),
            vision("visual.blocks.{}.attn.qkv.bias", d -> dims(3L * d.visionHidden())),
            vision("visual.blocks.{}.attn.proj.weight", d -> dims(d.visionHidden(), d.visionHidden())),
            vision("visual.blocks.{}.attn.proj.bias", d -> dims(d.visionHidden())),
            vision("visual.blocks.{}.norm2.weight", d -> dims(d.visionHidden())),
            vision("visual.blocks.{}.mlp.gate_proj.weight", d -> dims(d.visionIntermediate(), d.visionHidden())),
            vision("visual.blocks.{}.mlp.gate_proj.bias", d -> dims(d.visionIntermediate())),
            vision("visual.blocks.{}.mlp.up_proj.weight", d -> dims(d.visionIntermediate(), d.visionHidden())),
            vision("visual.blocks.{}.mlp.up_proj.bias", d -> dims(d.visionIntermediate())),
            vision("visual.blocks.{}.mlp.down_proj.weight", d -> dims(d.visionHidden(), d.visionIntermediate())),
            vision("visual.blocks.{}.mlp.down_proj.bias", d -> dims(d.visionHidden())),
            once("visual.merger.ln_q.weight", d -> dims(d.visionHidden())),
            once("visual.merger.mlp.0.weight", d -> dims(d.mergedHidden(), d.mergedHidden())),
            once("visual.merger.mlp.0.bias", d -> dims(d.mergedHidden())),
            once("visual.merger.mlp.2.weight", d -> dims(d.outHidden(), d.mergedHidden())),
            once("visual.merger.mlp.2.bias", d -> dims(d.outHidden())));

    static final List<InitRule> INIT = List.of(
            InitRule.constant("model.embed_tokens.weight", 0.5),
            InitRule.constant(LM_HEAD, 0.5),
            InitRule.norm("model.layers.{}.input_layernorm.weight", 0.25),
            InitRule.norm("model.layers.{}.post_attention_layernorm.weight", 0.25),
            InitRule.norm("model.norm.weight", 0.25),
            InitRule.fanIn("model.layers.{}.self_attn.q_proj.weight", 1.5),
            InitRule.fanIn("model.layers.{}.self_attn.k_proj.weight", 1.5),
            InitRule.fanIn("model.layers.{}.self_attn.v_proj.weight", 1.0),
            InitRule.constant("model.layers.{}.self_attn.q_proj.bias", 0.2),
            InitRule.constant("model.layers.{}.self_attn.k_proj.bias", 0.2),
            InitRule.constant("model.layers.{}.self_attn.v_proj.bias", 0.2),
            InitRule.fanIn("model.layers.{}.self_attn.o_proj.weight", 3.0),
            InitRule.fanIn("model.layers.{}.mlp.gate_proj.weight", 1.0),
            InitRule.fanIn("model.layers.{}.mlp.up_proj.weight", 1.0),
            InitRule.fanIn("model.layers.{}.mlp.down_proj.weight", 3.0),
            InitRule.fanIn("visual.patch_embed.proj.weight", 1.0),
            InitRule.norm("visual.blocks.{}.norm1.weight", 0.25),
            InitRule.norm("visual.blocks.{}.norm2.weight", 0.25),
            InitRule.fanIn("visual.blocks.{}.attn.qkv.weight", 1.5),
            InitRule.constant("visual.blocks.{}.attn.qkv.bias", 0.2),
            InitRule.fanIn("visual.blocks.{}.attn.proj.weight", 1.0),
            InitRule.constant("visual.blocks.{}.attn.proj.bias", 0.1),
            InitRule.fanIn("visual.blocks.{}.mlp.gate_proj.weight", 1.0),
            InitRule.fanIn("visual.blocks.{}.mlp.up_proj.weight", 1.0),
            InitRule.fanIn("visual.blocks.{}.mlp.down_proj.weight", 1.0),
            InitRule.constant("visual.blocks.{}.mlp.gate_proj.bias", 0.1),
            InitRule.constant("visual.blocks.{}.mlp.up_proj.bias", 0.1),
            InitRule.constant("visual.blocks.{}.mlp.down_proj.bias", 0.1),
            InitRule.norm("visual.merger.ln_q.weight", 0.25),
            InitRule.fanIn("visual.merger.mlp.0.weight", 1.0),
            InitRule.constant("visual.merger.mlp.0.bias", 0.1),
            InitRule.fanIn("visual.merger.mlp.2.weight", 2.0),
            InitRule.constant("visual.merger.mlp.2.bias", 0.1));

    /** The dimensions the layout needs, read from a Qwen2.5-VL config.json. */
    public record Dims(
            long hidden,
            long intermediate,
            int layers,
            long heads,
            long kvHeads,
            long vocab,
            boolean tied,
            long visionHidden,
            long visionIntermediate,
            int visionDepth,
            long outHidden,
            long inChans,
            long temporalPatch,
            long patch,
            long mergeSize) {
        public static Dims of(JsonNode config) {
            JsonNode v = required(config, "vision_config");
            return new Dims(
                    required(config, "hidden_size").asLong(),
                    required(config, "intermediate_size").asLong(),
                    required(config, "num_hidden_layers").asInt(),
                    required(config, "num_attention_heads").asLong(),
                    required(config, "num_key_value_heads").asLong(),
                    required(config, "vocab_size").asLong(),
                    config.path("tie_word_embeddings").asBoolean(false),
                    required(v, "hidden_size").asLong(),
                    required(v, "intermediate_size").asLong(),
                    required(v, "depth").asInt(),
                    required(v, "out_hidden_size").asLong(),
                    v.path("in_chans").asLong(3),
                    required(v, "temporal_patch_size").asLong(),
                    required(v, "patch_size").asLong(),
                    required(v, "spatial_merge_size").asLong());
        }

        private static JsonNode required(JsonNode node, String key) {
            JsonNode n = node.get(key);
            if (n == null || n.isNull()) {
                throw new IllegalArgumentException("Qwen2.5-VL config has no " + key);
            }
            return n;
        }

        public long headDim() {
            return hidden / heads;
        }

        /** The merger's width: {@code merge_size²} vision tokens concatenated. */
        public long mergedHidden() {
            return visionHidden * mergeSize * mergeSize;
        }
    }

    private Qwen25VlLayout() {}

    /** Every tensor of the checkpoint, sorted by name (the order of the file). */
    public static List<TensorSpec> tensors(Dims d) {
        List<TensorSpec> out = new ArrayList<>();
        for (Param p : PARAMS) {
            int repeats =
                    switch (p.scope()) {
                        case ONCE -> 1;
                        case TEXT_LAYER -> d.layers();
                        case VISION_BLOCK -> d.visionDepth();
                    };
            for (int i = 0; i < repeats; i++) {
                String name =
                        p.scope() == Scope.ONCE ? p.template() : p.template().replace("{}", Integer.toString(i));
                out.add(spec(name, p.shape().apply(d)));
            }
        }
        if (!d.tied()) {
            out.add(spec(LM_HEAD, dims(d.vocab(), d.hidden())));
        }
        out.sort(Comparator.comparing(TensorSpec::name));
        return out;
    }

    /** The init rule for a name: exactly one must match, else the table is wrong. */
    static TensorSpec spec(String name, long[] shape) {
        List<InitRule> matching =
                INIT.stream().filter(r -> r.pattern().matcher(name).matches()).toList();
        if (matching.size() != 1) {
            throw new IllegalStateException(
                    "tensor " + name + " matches " + matching.size() + " init rules (needs exactly one): "
                            + matching.stream().map(InitRule::template).toList());
        }
        InitRule r = matching.getFirst();
        return new TensorSpec(name, shape, r.kind(), r.scale(shape));
    }

    private static Param once(String name, Function<Dims, long[]> shape) {
        return new Param(name, Scope.ONCE, shape);
    }

    private static Param text(String template, Function<Dims, long[]> shape) {
        return new Param(template, Scope.TEXT_LAYER, shape);
    }

    private static Param vision(String template, Function<Dims, long[]> shape) {
        return new Param(template, Scope.VISION_BLOCK, shape);
    }

    private static long[] dims(long... d) {
        return d;
    }
}
