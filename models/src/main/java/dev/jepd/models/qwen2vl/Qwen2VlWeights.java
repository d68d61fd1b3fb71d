package dev.jepd.models.qwen2vl;

import dev.jepd.engine.model.WeightTable;
import dev.jepd.models.qwenvl.LayerNormVisionBlock;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The Qwen2-VL vision tower as data (the text decoder is Qwen2's table, the prefix map
 * {@link QwenVlCheckpoint}'s). Names as in the published checkpoints ({@code visual.} prefix).
 */
public final class Qwen2VlWeights {
    public static final String BLOCKS = QwenVlCheckpoint.VISION + "blocks.{}.";

    public static final String PATCH_EMBED = "visual.patch_embed.proj.weight";
    public static final String MERGER_NORM_W = "visual.merger.ln_q.weight";
    public static final String MERGER_NORM_B = "visual.merger.ln_q.bias";
    public static final String MERGER_FC1_W = "visual.merger.mlp.0.weight";
    public static final String MERGER_FC1_B = "visual.merger.mlp.0.bias";
    public static final String MERGER_FC2_W = "visual.merger.mlp.2.weight";
    public static final String MERGER_FC2_B = "visual.merger.mlp.2.bias";

    public static final String NORM1_W = "norm1.weight";
    public static final String NORM1_B = "norm1.bias";
    public static final String NORM2_W = "norm2.weight";
    public static final String NORM2_B = "norm2.bias";
    public static final String QKV_W = "attn.qkv.weight";
    public static final String QKV_B = "attn.qkv.bias";
    public static final String PROJ_W = "attn.proj.weight";
    public static final String PROJ_B = "attn.proj.bias";
    public static final String FC1_W = "mlp.fc1.weight";
    public static final String FC1_B = "mlp.fc1.bias";
    public static final String FC2_W = "mlp.fc2.weight";
    public static final String FC2_B = "mlp.fc2.bias";

    private Qwen2VlWeights() {}

    /** The vision tower's tensors: patch embedding, {@code depth} blocks, merger. */
    public static WeightTable visionTable(Qwen2VlConfig c) {
        Qwen2VlConfig.Vision v = c.vision();
        long h = v.embedDim();
        long m = v.mlpDim();
        long merged = h * v.mergeUnit();
        return WeightTable.builder(BLOCKS, v.depth())
                // Conv3d [out, in, t, h, w], no bias
                .top(PATCH_EMBED, h, v.channels(), v.temporalPatchSize(), v.patchSize(), v.patchSize())
                .top(MERGER_NORM_W, h)
                .top(MERGER_NORM_B, h)
                .top(MERGER_FC1_W, merged, merged)
                .top(MERGER_FC1_B, merged)
                .top(MERGER_FC2_W, v.outHiddenSize(), merged)
                .top(MERGER_FC2_B, v.outHiddenSize())
                .layer(NORM1_W, h)
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

    /** The tower's weights, bound from a loaded {@link #visionTable}. */
    record Vision(
            Tensor patchEmbed /*[embed, C*tp*p*p]: the Conv3d kernel flattened*/,
            List<LayerNormVisionBlock> blocks,
            Tensor mergerNormW /*[embed]*/,
            Tensor mergerNormB /*[embed]*/,
            Tensor fc1W /*[4*embed, 4*embed]*/,
            Tensor fc1B /*[4*embed]*/,
            Tensor fc2W /*[out, 4*embed]*/,
            Tensor fc2B /*[out]*/) {
        /** Binds the loaded tensors; the patch embedding is reshaped in the scope of {@code ops}. */
        static Vision of(WeightTable.Bound w, Qwen2VlConfig.Vision cfg, Ops ops) {
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
            return new Vision(
                    ops.reshape(w.top(PATCH_EMBED), cfg.embedDim(), cfg.patchDim()),
                    List.copyOf(blocks),
                    w.top(MERGER_NORM_W),
                    w.top(MERGER_NORM_B),
                    w.top(MERGER_FC1_W),
                    w.top(MERGER_FC1_B),
                    w.top(MERGER_FC2_W),
                    w.top(MERGER_FC2_B));
        }
    }
}
