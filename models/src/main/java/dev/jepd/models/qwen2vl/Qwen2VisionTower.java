package dev.jepd.models.qwen2vl;

import dev.jepd.engine.safetensors.TensorSource;
import dev.jepd.media.PixelValues;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import dev.jepd.models.qwenvl.VisionBatch;
import dev.jepd.models.qwenvl.VisionRotary;
import dev.jepd.models.qwenvl.VisionTowerBase;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.util.List;

/**
 * The Qwen2-VL vision tower: Conv3d patch embedding as one linear, 2-D rotary on (row, col), full attention
 * within each image frame in every block, LayerNorm + QuickGELU blocks, and the merger (LayerNorm, 4
 * neighbours side by side, Linear, GELU, Linear). Patches stay in the processor's order throughout.
 */
public final class Qwen2VisionTower extends VisionTowerBase<Qwen2VlWeights.Vision> {
    private static final float EPS = 1e-6f;
    private static final double ROPE_THETA = 10000.0;

    private final Qwen2VlConfig.Vision cfg;
    private final VisionRotary rotary;

    public Qwen2VisionTower(TensorBackend backend, Qwen2VlConfig config, TensorSource weights) {
        super(
                backend,
                ops -> Qwen2VlWeights.Vision.of(
                        Qwen2VlWeights.visionTable(config)
                                .load(QwenVlCheckpoint.visionLoader(), weights, ops, "the Qwen2-VL vision tower"),
                        config.vision(),
                        ops));
        this.cfg = config.vision();
        rotary = new VisionRotary(cfg.headDim(), ROPE_THETA);
    }

    @Override
    public int embeddingDim() {
        return cfg.outHiddenSize();
    }

    @Override
    public List<Tensor> encode(List<PixelValues> images, Ops ops) {
        if (images.isEmpty()) {
            return List.of();
        }
        int unit = cfg.mergeUnit();
        int hidden = cfg.embedDim();
        VisionBatch batch = VisionBatch.of(images, cfg.spatialMergeSize(), cfg.patchDim());
        int totalPatches = batch.patches();
        int[] segments = batch.frameSegments(); // attention never crosses a frame
        int units = totalPatches / unit;
        Tensor x = ops.linear(ops.fromFloats(batch.pixels(), totalPatches, cfg.patchDim()), weights.patchEmbed(), null);
        tap("patch_embed", x);
        float[][] cosSin = rotary.tables(batch.grids(), null, unit);
        Tensor cos = ops.fromFloats(cosSin[0], totalPatches, cfg.headDim()); // [N, headDim]
        Tensor sin = ops.fromFloats(cosSin[1], totalPatches, cfg.headDim());

        for (int b = 0; b < weights.blocks().size(); b++) {
            x = weights.blocks()
                    .get(b)
                    .forward(ops, x, cos, sin, segments, cfg.numHeads(), cfg.headDim(), Ops::quickGelu);
            tap("block_out." + b, x);
        }

        Tensor m = ops.layerNorm(x, weights.mergerNormW(), weights.mergerNormB(), EPS);
        m = ops.reshape(m, units, (long) unit * hidden); // [N/4, 4*embed]
        m = ops.linear(ops.linearGelu(m, weights.fc1W(), weights.fc1B()), weights.fc2W(), weights.fc2B()); // [N/4, out]
        return batch.perImage(ops, m);
    }
}
