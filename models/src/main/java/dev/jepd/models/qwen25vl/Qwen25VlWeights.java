package dev.jepd.models.qwen25vl;

import dev.jepd.engine.model.WeightLoader;
import dev.jepd.engine.model.WeightSpec;
import dev.jepd.engine.model.WeightTable;
import dev.jepd.models.qwen2.Qwen2Weights;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The Qwen2.5-VL checkpoint as data: the vision tower's table (below), the text decoder's
 * ({@link Qwen2Weights#table}), and the prefix map between the checkpoint and both
 * ({@link QwenVlCheckpoint}). An encoder node loads only the first.
 */
public final class Qwen25VlWeights {
    public static final String BLOCKS = QwenVlCheckpoint.VISION + "blocks.{}.";

    public static final String PATCH_EMBED = "visual.patch_embed.proj.weight";
    public static final String MERGER_NORM = "visual.merger.ln_q.weight";
    public static final String MERGER_FC1_W = "visual.merger.mlp.0.weight";
    public static final String MERGER_FC1_B = "visual.merger.mlp.0.bias";
    public static final String MERGER_FC2_W = "visual.merger.mlp.2.weight";
    public static final String MERGER_FC2_B = "visual.merger.mlp.2.bias";

    public static final String NORM1 = "norm1.weight";
    public static final String NORM2 = "norm2.weight";
    public static final String QKV_W = "attn.qkv.weight";
    public static final String QKV_B = "attn.qkv.bias";
    public static final String PROJ_W = "attn.proj.weight";
    public static final String PROJ_B = "attn.proj.bias";
    public static final String GATE_W = "mlp.gate_proj.weight";
    public static final String GATE_B = "mlp.gate_proj.bias";
    public static final String UP_W = "mlp.up_proj.weight";
    public static final String UP_B = "mlp.up_proj.bias";
    public static final String DOWN_W = "mlp.down_proj.weight";
    public static final String DOWN_B = "mlp.down_proj.bias";

    private Qwen25VlWeights() {}

    /** The vision tower's tensors: patch embedding, {@code depth} blocks, merger. */
    public static WeightTable visionTable(Qwen25VlConfig c) {
        Qwen25VlConfig.VisionConfig v = c.vision();
        long h = v.hiddenSize();
        long i = v.intermediateSize();
        long merged = h * v.mergeUnit();
        return WeightTable.builder(BLOCKS, v.depth())
                // Conv3d [out, in, t, h, w]
                .top(PATCH_EMBED, h, v.channels(), v.temporalPatchSize(), v.patchSize(), v.patchSize())
                .top(MERGER_NORM, h)
                .top(MERGER_FC1_W, merged, merged)
                .top(MERGER_FC1_B, merged)
                .top(MERGER_FC2_W, v.outHiddenSize(), merged)
                .top(MERGER_FC2_B, v.outHiddenSize())
                .layer(NORM1, h)
                .layer(NORM2, h)
                .layer(QKV_W, 3 * h, h)
                .layer(QKV_B, 3 * h)
                .layer(PROJ_W, h, h)
                .layer(PROJ_B, h)
                .layer(GATE_W, i, h)
                .layer(GATE_B, i)
                .layer(UP_W, i, h)
                .layer(UP_B, i)
                .layer(DOWN_W, h, i)
                .layer(DOWN_B, h)
                .build();
    }

    /** The text decoder's tensors, in the names the checkpoint's prefix map leads to. */
    public static WeightTable languageTable(Qwen25VlConfig c) {
        return Qwen2Weights.table(Qwen25VlModel.textParams(c));
    }

    public static List<WeightSpec> vision(Qwen25VlConfig c) {
        return visionTable(c).specs();
    }

    public static List<WeightSpec> language(Qwen25VlConfig c) {
        return languageTable(c).specs();
    }

    /** A loader for one half of the checkpoint ({@link QwenVlCheckpoint}): the other half is ignored. */
    public static WeightLoader loader(boolean visionPart) {
        return visionPart ? QwenVlCheckpoint.visionLoader() : QwenVlCheckpoint.languageLoader();
    }

    /** One vision block. */
    record Block(
            Tensor norm1 /*[hidden]*/,
            Tensor norm2 /*[hidden]*/,
            Tensor qkvW /*[3*hidden, hidden]*/,
            Tensor qkvB /*[3*hidden]*/,
            Tensor projW /*[hidden, hidden]*/,
            Tensor projB /*[hidden]*/,
            Tensor gateW /*[intermediate, hidden]*/,
            Tensor gateB /*[intermediate]*/,
            Tensor upW /*[intermediate, hidden]*/,
            Tensor upB /*[intermediate]*/,
            Tensor downW /*[hidden, intermediate]*/,
            Tensor downB /*[hidden]*/) {}

    /** The vision tower's weights, bound from a loaded {@link #visionTable}. */
    record Vision(
            Tensor patchEmbed /*[hidden, C*tp*p*p]: the Conv3d kernel flattened*/,
            List<Block> blocks,
            Tensor mergerNorm /*[hidden]*/,
            Tensor fc1W /*[4*hidden, 4*hidden]*/,
            Tensor fc1B /*[4*hidden]*/,
            Tensor fc2W /*[out, 4*hidden]*/,
            Tensor fc2B /*[out]*/) {
        /** Binds the loaded tensors; the patch embedding is reshaped in the scope of {@code ops}. */
        static Vision of(WeightTable.Bound w, Qwen25VlConfig.VisionConfig cfg, Ops ops) {
            List<Block> blocks = new ArrayList<>(cfg.depth());
            for (int b = 0; b < cfg.depth(); b++) {
                blocks.add(new Block(
                        w.layer(b, NORM1),
                        w.layer(b, NORM2),
                        w.layer(b, QKV_W),
                        w.layer(b, QKV_B),
                        w.layer(b, PROJ_W),
                        w.layer(b, PROJ_B),
                        w.layer(b, GATE_W),
                        w.layer(b, GATE_B),
                        w.layer(b, UP_W),
                        w.layer(b, UP_B),
                        w.layer(b, DOWN_W),
                        w.layer(b, DOWN_B)));
            }
            return new Vision(
                    ops.reshape(w.top(PATCH_EMBED), cfg.hiddenSize(), cfg.patchDim()),
                    List.copyOf(blocks),
                    w.top(MERGER_NORM),
                    w.top(MERGER_FC1_W),
                    w.top(MERGER_FC1_B),
                    w.top(MERGER_FC2_W),
                    w.top(MERGER_FC2_B));
        }
    }
}
