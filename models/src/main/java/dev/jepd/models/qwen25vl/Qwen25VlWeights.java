package dev.jepd.models.qwen25vl;

import static dev.jepd.engine.model.WeightSpec.perLayer;
import static dev.jepd.engine.model.WeightSpec.single;

import dev.jepd.engine.model.WeightLoader;
import dev.jepd.engine.model.WeightSpec;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The Qwen2.5-VL checkpoint layout as data: every tensor name template with its shape, for the vision
 * tower and for the language model separately (an encoder node loads only the first).
 */
public final class Qwen25VlWeights {
    public static final String PATCH_EMBED = "visual.patch_embed.proj.weight";
    public static final String V_NORM1 = "visual.blocks.{}.norm1.weight";
    public static final String V_NORM2 = "visual.blocks.{}.norm2.weight";
    public static final String V_QKV_W = "visual.blocks.{}.attn.qkv.weight";
    public static final String V_QKV_B = "visual.blocks.{}.attn.qkv.bias";
    public static final String V_PROJ_W = "visual.blocks.{}.attn.proj.weight";
    public static final String V_PROJ_B = "visual.blocks.{}.attn.proj.bias";
    public static final String V_GATE_W = "visual.blocks.{}.mlp.gate_proj.weight";
    public static final String V_GATE_B = "visual.blocks.{}.mlp.gate_proj.bias";
    public static final String V_UP_W = "visual.blocks.{}.mlp.up_proj.weight";
    public static final String V_UP_B = "visual.blocks.{}.mlp.up_proj.bias";
    public static final String V_DOWN_W = "visual.blocks.{}.mlp.down_proj.weight";
    public static final String V_DOWN_B = "visual.blocks.{}.mlp.down_proj.bias";
    public static final String MERGER_NORM = "visual.merger.ln_q.weight";
    public static final String MERGER_FC1_W = "visual.merger.mlp.0.weight";
    public static final String MERGER_FC1_B = "visual.merger.mlp.0.bias";
    public static final String MERGER_FC2_W = "visual.merger.mlp.2.weight";
    public static final String MERGER_FC2_B = "visual.merger.mlp.2.bias";

    public static final String EMBED = "model.embed_tokens.weight";
    public static final String IN_NORM = "model.layers.{}.input_layernorm.weight";
    public static final String POST_NORM = "model.layers.{}.post_attention_layernorm.weight";
    public static final String Q_W = "model.layers.{}.self_attn.q_proj.weight";
    public static final String Q_B = "model.layers.{}.self_attn.q_proj.bias";
    public static final String K_W = "model.layers.{}.self_attn.k_proj.weight";
    public static final String K_B = "model.layers.{}.self_attn.k_proj.bias";
    public static final String V_W = "model.layers.{}.self_attn.v_proj.weight";
    public static final String V_B = "model.layers.{}.self_attn.v_proj.bias";
    public static final String O_W = "model.layers.{}.self_attn.o_proj.weight";
    public static final String GATE_W = "model.layers.{}.mlp.gate_proj.weight";
    public static final String UP_W = "model.layers.{}.mlp.up_proj.weight";
    public static final String DOWN_W = "model.layers.{}.mlp.down_proj.weight";
    public static final String FINAL_NORM = "model.norm.weight";
    public static final String LM_HEAD = "lm_head.weight";

    private Qwen25VlWeights() {}

    public static List<WeightSpec> vision(Qwen25VlConfig c) {
        Qwen25VlConfig.VisionConfig v = c.vision();
        int n = v.depth();
        long h = v.hiddenSize();
        long i = v.intermediateSize();
        long merged = h * v.mergeUnit();
        return List.of(
                single(PATCH_EMBED, h, v.channels(), v.temporalPatchSize(), v.patchSize(), v.patchSize()),
                perLayer(n, V_NORM1, h),
                perLayer(n, V_NORM2, h),
                perLayer(n, V_QKV_W, 3 * h, h),
                perLayer(n, V_QKV_B, 3 * h),
                perLayer(n, V_PROJ_W, h, h),
                perLayer(n, V_PROJ_B, h),
                perLayer(n, V_GATE_W, i, h),
                perLayer(n, V_GATE_B, i),
                perLayer(n, V_UP_W, i, h),
                perLayer(n, V_UP_B, i),
                perLayer(n, V_DOWN_W, h, i),
                perLayer(n, V_DOWN_B, h),
                single(MERGER_NORM, h),
                single(MERGER_FC1_W, merged, merged),
                single(MERGER_FC1_B, merged),
                single(MERGER_FC2_W, v.outHiddenSize(), merged),
                single(MERGER_FC2_B, v.outHiddenSize()));
    }

    public static List<WeightSpec> language(Qwen25VlConfig c) {
        int n = c.numLayers();
        long h = c.hiddenSize();
        long i = c.intermediateSize();
        long q = (long) c.numHeads() * c.headDim();
        long kv = (long) c.numKvHeads() * c.headDim();
        List<WeightSpec> specs = new ArrayList<>(List.of(
                single(EMBED, c.vocabSize(), h),
                perLayer(n, IN_NORM, h),
                perLayer(n, POST_NORM, h),
                perLayer(n, Q_W, q, h),
                perLayer(n, Q_B, q),
                perLayer(n, K_W, kv, h),
                perLayer(n, K_B, kv),
                perLayer(n, V_W, kv, h),
                perLayer(n, V_B, kv),
                perLayer(n, O_W, h, q),
                perLayer(n, GATE_W, i, h),
                perLayer(n, UP_W, i, h),
                perLayer(n, DOWN_W, h, i),
                single(FINAL_NORM, h)));
        if (!c.tieWordEmbeddings()) {
            specs.add(single(LM_HEAD, c.vocabSize(), h));
        }
        return specs;
    }

    /**
     * A loader for one half of the checkpoint. The other half's tensors are ignored, not "unexpected",
     * so an encoder-only node can load the vision tower from a full checkpoint. Transformers 5 prefixes
     * ({@code model.language_model.}, {@code model.visual.}) are mapped to the published layout.
     */
    public static WeightLoader loader(boolean visionPart) {
        Map<String, String> aliases = new LinkedHashMap<>();
        aliases.put("model.language_model.", "model.");
        aliases.put("model.visual.", "visual.");
        aliases.put("language_model.model.", "model.");
        aliases.put("language_model.lm_head.", "lm_head.");
        List<Pattern> ignored = new ArrayList<>();
        ignored.add(Pattern.compile(".*\\.rotary_emb\\.inv_freq"));
        if (visionPart) {
            ignored.add(Pattern.compile(
                    "(model\\.language_model\\.|language_model\\.|model\\.(?!visual\\.)|lm_head\\.).*"));
        } else {
            ignored.add(Pattern.compile("(model\\.visual\\.|visual\\.).*"));
        }
        return new WeightLoader(aliases, ignored);
    }
}
