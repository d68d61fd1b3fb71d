package dev.jepd.models.qwen2;

import dev.jepd.engine.model.WeightTable;
import dev.jepd.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The Qwen2 decoder's weights as data, in Qwen2ForCausalLM's names: per-layer tensors relative to
 * {@value #LAYERS}, plus the top-level embedding, final norm and (untied) head. A model that stores the
 * decoder under other prefixes (the VL models' {@code model.language_model.}) maps them onto these names
 * with its loader; the decoder itself knows only these.
 */
public final class Qwen2Weights {
    public static final String LAYERS = "model.layers.{}.";

    public static final String EMBED = "model.embed_tokens.weight";
    public static final String FINAL_NORM = "model.norm.weight";
    public static final String LM_HEAD = "lm_head.weight";

    public static final String IN_NORM = "input_layernorm.weight";
    public static final String POST_NORM = "post_attention_layernorm.weight";
    public static final String Q_W = "self_attn.q_proj.weight";
    public static final String Q_B = "self_attn.q_proj.bias";
    public static final String K_W = "self_attn.k_proj.weight";
    public static final String K_B = "self_attn.k_proj.bias";
    public static final String V_W = "self_attn.v_proj.weight";
    public static final String V_B = "self_attn.v_proj.bias";
    public static final String O_W = "self_attn.o_proj.weight";
    public static final String Q_NORM = "self_attn.q_norm.weight";
    public static final String K_NORM = "self_attn.k_norm.weight";
    public static final String GATE_W = "mlp.gate_proj.weight";
    public static final String UP_W = "mlp.up_proj.weight";
    public static final String DOWN_W = "mlp.down_proj.weight";

    private Qwen2Weights() {}

    /**
     * Every tensor of the decoder with its shape; no {@code lm_head} when tied, no q/k/v bias without it, q/k
     * norms (per head, {@code [headDim]}) with them.
     */
    public static WeightTable table(Qwen2TextParams p) {
        long h = p.hidden();
        long i = p.intermediate();
        long q = (long) p.heads() * p.headDim();
        long kv = (long) p.kvHeads() * p.headDim();
        WeightTable.Builder b =
                WeightTable.builder(LAYERS, p.layers()).top(EMBED, p.vocab(), h).top(FINAL_NORM, h);
        if (!p.tiedEmbeddings()) {
            b.top(LM_HEAD, p.vocab(), h);
        }
        b.layer(IN_NORM, h).layer(POST_NORM, h).layer(Q_W, q, h);
        if (p.qkvBias()) {
            b.layer(Q_B, q);
        }
        b.layer(K_W, kv, h);
        if (p.qkvBias()) {
            b.layer(K_B, kv);
        }
        b.layer(V_W, kv, h);
        if (p.qkvBias()) {
            b.layer(V_B, kv);
        }
        if (p.qkNorm()) {
            b.layer(Q_NORM, p.headDim()).layer(K_NORM, p.headDim());
        }
        return b.layer(O_W, h, q)
                .layer(GATE_W, i, h)
                .layer(UP_W, i, h)
                .layer(DOWN_W, h, i)
                .build();
    }

    /** One decoder layer; the biases and q/k norms are null when the model has none. */
    public record Layer(
            Tensor inNorm /*[hidden]*/,
            Tensor postNorm /*[hidden]*/,
            Tensor qW /*[heads*hd, hidden]*/,
            Tensor qB /*[heads*hd]*/,
            Tensor kW /*[kvHeads*hd, hidden]*/,
            Tensor kB /*[kvHeads*hd]*/,
            Tensor vW /*[kvHeads*hd, hidden]*/,
            Tensor vB /*[kvHeads*hd]*/,
            Tensor qNorm /*[hd]*/,
            Tensor kNorm /*[hd]*/,
            Tensor oW /*[hidden, heads*hd]*/,
            Tensor gateW /*[intermediate, hidden]*/,
            Tensor upW /*[intermediate, hidden]*/,
            Tensor downW /*[hidden, intermediate]*/) {}

    /** The whole decoder's weights, bound from a loaded {@link #table}. */
    public record Bound(
            Tensor embed /*[vocab, hidden]*/,
            Tensor head /*[vocab, hidden]: the embedding itself when tied*/,
            Tensor finalNorm /*[hidden]*/,
            List<Layer> layers) {
        public static Bound of(WeightTable.Bound w, Qwen2TextParams p) {
            Tensor embed = w.top(EMBED);
            List<Layer> layers = new ArrayList<>(p.layers());
            for (int l = 0; l < p.layers(); l++) {
                layers.add(new Layer(
                        w.layer(l, IN_NORM),
                        w.layer(l, POST_NORM),
                        w.layer(l, Q_W),
                        p.qkvBias() ? w.layer(l, Q_B) : null,
                        w.layer(l, K_W),
                        p.qkvBias() ? w.layer(l, K_B) : null,
                        w.layer(l, V_W),
                        p.qkvBias() ? w.layer(l, V_B) : null,
                        p.qkNorm() ? w.layer(l, Q_NORM) : null,
                        p.qkNorm() ? w.layer(l, K_NORM) : null,
                        w.layer(l, O_W),
                        w.layer(l, GATE_W),
                        w.layer(l, UP_W),
                        w.layer(l, DOWN_W)));
            }
            return new Bound(
                    embed, p.tiedEmbeddings() ? embed : w.top(LM_HEAD), w.top(FINAL_NORM), List.copyOf(layers));
        }
    }
}
