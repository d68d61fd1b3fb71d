package dev.jepd.models.qwen3vl;

import dev.jepd.engine.model.WeightTable;
import dev.jepd.models.qwenvl.LayerNormVisionBlock;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The Qwen3-VL vision tower as data (the text decoder is Qwen2's table with q/k norms, the prefix map
 * {@link QwenVlCheckpoint}'s). Names as in the published checkpoints after the prefix map ({@code visual.}):
 * the blocks per layer, and the patch embedding, learned position table, main merger and one DeepStack merger
 * per {@code deepstack_visual_indexes} entry ({@value #DEEPSTACK}) at the top.
 */
public final class Qwen3VlWeights {
    public static final String BLOCKS = QwenVlCheckpoint.VISION + "blocks.{}.";
    /** The DeepStack mergers: merger {@code j} reads block {@code deepstack_visual_indexes[j]}. */
    public static final String DEEPSTACK = QwenVlCheckpoint.VISION + "deepstack_merger_list.{}.";

    public static final String PATCH_EMBED_W = "visual.patch_embed.proj.weight";
    public static final String PATCH_EMBED_B = "visual.patch_embed.proj.bias";
    public static final String POS_EMBED = "visual.pos_embed.weight";
    public static final String MERGER = QwenVlCheckpoint.VISION + "merger.";

    /** A merger's tensors, relative to {@link #MERGER} or a {@link #DEEPSTACK} entry. */
    public static final String M_NORM_W = "norm.weight";

    public static final String M_NORM_B = "norm.bias";
    public static final String M_FC1_W = "linear_fc1.weight";
    public static final String M_FC1_B = "linear_fc1.bias";
    public static final String M_FC2_W = "linear_fc2.weight";
    public static final String M_FC2_B = "linear_fc2.bias";

    public static final String NORM1_W = "norm1.weight";
    public static final String NORM1_B = "norm1.bias";
    public static final String NORM2_W = "norm2.weight";
    public static final String NORM2_B = "norm2.bias";
    public static final String QKV_W = "attn.qkv.weight";
    public static final String QKV_B = "attn.qkv.bias";
    public static final String PROJ_W = "attn.proj.weight";
    public static final String PROJ_B = "attn.proj.bias";
    public static final String FC1_W = "mlp.linear_fc1.weight";
    public static final String FC1_B = "mlp.linear_fc1.bias";
    public static final String FC2_W = "mlp.linear_fc2.weight";
    public static final String FC2_B = "mlp.linear_fc2.bias";

    private Qwen3VlWeights() {}

    /** The checkpoint name of DeepStack merger {@code j}'s tensor {@code relative}. */
    public static String deepstack(int j, String relative) {
        return DEEPSTACK.replace("{}", Integer.toString(j)) + relative;
    }

    /** The vision tower's tensors: patch embedding, position table, {@code depth} blocks, the mergers. */
    public static WeightTable visionTable(Qwen3VlConfig c) {
        Qwen3VlConfig.Vision v = c.vision();
        long h = v.hiddenSize();
        long m = v.intermediateSize();
        long merged = h * v.mergeUnit();
        WeightTable.Builder b = WeightTable.builder(BLOCKS, v.depth())
                // Conv3d [out, in, t, h, w], with bias
                .top(PATCH_EMBED_W, h, v.channels(), v.temporalPatchSize(), v.patchSize(), v.patchSize())
                .top(PATCH_EMBED_B, h)
                .top(POS_EMBED, v.numPositionEmbeddings(), h);
        merger(b, MERGER, h, merged, v.outHiddenSize());
        for (int j = 0; j < v.deepstackLevels(); j++) {
            // use_postshuffle_norm: the LayerNorm sees the 4 neighbours side by side
            merger(b, DEEPSTACK.replace("{}", Integer.toString(j)), merged, merged, v.outHiddenSize());
        }
        return b.layer(NORM1_W, h)
                .layer(NORM1_B, h)
                .layer(NORM2_W, h)
                .layer(NORM2_B, h)
                .layer(QKV_W, 3 * h, h)
                .layer(QKV_B, 3 * h)
                .layer(PROJ_W, h, h)
                .layer(PROJ_B, h)
                .layer(FC1_W, m, h)
                .layer(FC1_B, m)
                .layer(FC2_W, h, m)
                .layer(FC2_B, h)
                .build();
    }

    private static void merger(WeightTable.Builder b, String prefix, long norm, long merged, long out) {
        b.top(prefix + M_NORM_W, norm)
                .top(prefix + M_NORM_B, norm)
                .top(prefix + M_FC1_W, merged, merged)
                .top(prefix + M_FC1_B, merged)
                .top(prefix + M_FC2_W, out, merged)
                .top(prefix + M_FC2_B, out);
    }

    /**
     * A patch merger: LayerNorm, 4 neighbours side by side, Linear, GELU, Linear.
     *
     * @param postShuffle the norm runs after the neighbours are put side by side ({@code [4*hidden]}: the
     *     DeepStack mergers) rather than before ({@code [hidden]}: the main merger)
     */
    record Merger(
            Tensor normW /*[hidden] or [4*hidden]*/,
            Tensor normB,
            Tensor fc1W /*[4*hidden, 4*hidden]*/,
            Tensor fc1B /*[4*hidden]*/,
            Tensor fc2W /*[out, 4*hidden]*/,
            Tensor fc2B /*[out]*/,
            boolean postShuffle) {
        static Merger of(WeightTable.Bound w, String prefix, boolean postShuffle) {
            return new Merger(
                    w.top(prefix + M_NORM_W),
                    w.top(prefix + M_NORM_B),
                    w.top(prefix + M_FC1_W),
                    w.top(prefix + M_FC1_B),
                    w.top(prefix + M_FC2_W),
                    w.top(prefix + M_FC2_B),
                    postShuffle);
        }
    }

    /** The tower's weights, bound from a loaded {@link #visionTable}. */
    record Vision(
            Tensor patchEmbedW /*[hidden, C*tp*p*p]: the Conv3d kernel flattened*/,
            Tensor patchEmbedB /*[hidden]*/,
            Tensor posEmbed /*[num_position_embeddings, hidden]*/,
            List<LayerNormVisionBlock> blocks,
            Merger merger,
            List<Merger> deepstack) {
        /** Binds the loaded tensors; the patch embedding is reshaped in the scope of {@code ops}. */
        static Vision of(WeightTable.Bound w, Qwen3VlConfig.Vision cfg, Ops ops) {
            List<LayerNormVisionBlock> blocks = new ArrayList<>(cfg.depth());
            for (int b = 0; b < cfg.depth(); b++) {
                blocks.add(new LayerNormVisionBlock(
                        w.layer(b, NORM1_W),
                        w.layer(b, NORM1_B),
                        w.layer(b, NORM2_W),
                        w.layer(b, NORM2_B),
                        w.layer(b, QKV_W),
                        w.layer(b, QKV_B),
                        w.layer(b, PROJ_W),
                        w.layer(b, PROJ_B),
                        w.layer(b, FC1_W),
                        w.layer(b, FC1_B),
                        w.layer(b, FC2_W),
                        w.layer(b, FC2_B)));
            }
            List<Merger> deepstack = new ArrayList<>(cfg.deepstackLevels());
            for (int j = 0; j < cfg.deepstackLevels(); j++) {
                deepstack.add(Merger.of(w, DEEPSTACK.replace("{}", Integer.toString(j)), true));
            }
            return new Vision(
                    ops.reshape(w.top(PATCH_EMBED_W), cfg.hiddenSize(), cfg.patchDim()),
                    w.top(PATCH_EMBED_B),
                    w.top(POS_EMBED),
                    List.copyOf(blocks),
                    Merger.of(w, MERGER, false),
                    List.copyOf(deepstack));
        }
    }
}
