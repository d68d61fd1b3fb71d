package dev.jepd.models.qwen3vl;

import dev.jepd.engine.safetensors.TensorSource;
import dev.jepd.media.ImageGrid;
import dev.jepd.media.PixelValues;
import dev.jepd.models.qwenvl.QwenVlCheckpoint;
import dev.jepd.models.qwenvl.VisionBatch;
import dev.jepd.models.qwenvl.VisionRotary;
import dev.jepd.models.qwenvl.VisionTowerBase;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.util.ArrayList;
import java.util.List;

/**
 * The Qwen3-VL vision tower: Conv3d patch embedding (with bias) as one linear, plus the learned position table
 * resampled to each image's grid ({@link PositionInterpolation}), 2-D rotary on (row, col), full attention
 * within each image frame, LayerNorm + tanh-GELU blocks, the main merger after the last block and one DeepStack
 * merger after each block of {@code deepstack_visual_indexes}. Each output row is vLLM's: the main merger's row
 * followed by the DeepStack mergers' rows in {@code deepstack_visual_indexes} order,
 * {@code [out_hidden × (1 + levels)]}. Patches stay in the processor's order throughout.
 */
public final class Qwen3VisionTower extends VisionTowerBase<Qwen3VlWeights.Vision> {
    private static final float EPS = 1e-6f;
    /** sqrt(2/pi), the tanh-GELU's constant. */
    private static final double GELU_TANH_BETA = Math.sqrt(2 / Math.PI);

    private final Qwen3VlConfig.Vision cfg;
    private final VisionRotary rotary;
    private final PositionInterpolation positions;

    public Qwen3VisionTower(TensorBackend backend, Qwen3VlConfig config, TensorSource weights) {
        super(
                backend,
                ops -> Qwen3VlWeights.Vision.of(
                        Qwen3VlWeights.visionTable(config)
                                .load(QwenVlCheckpoint.visionLoader(), weights, ops, "the Qwen3-VL vision tower"),
                        config.vision(),
                        ops));
        this.cfg = config.vision();
        rotary = new VisionRotary(cfg.headDim(), cfg.ropeTheta());
        positions = new PositionInterpolation(cfg.gridPerSide());
    }

    /** The main merger's width and each DeepStack level's, side by side. */
    @Override
    public int embeddingDim() {
        return cfg.embedWidth();
    }

    @Override
    public List<Tensor> encode(List<PixelValues> images, Ops ops) {
        if (images.isEmpty()) {
            return List.of();
        }
        for (PixelValues p : images) {
            if ((long) p.data().length != (long) p.numPatches() * cfg.patchDim()) {
                throw new IllegalArgumentException("pixel values of " + p.numPatches() + " patches hold "
                        + p.data().length + " values, not " + cfg.patchDim() + " per patch (patch size "
                        + cfg.patchSize() + ")");
            }
        }
        int unit = cfg.mergeUnit();
        VisionBatch batch = VisionBatch.of(images, cfg.spatialMergeSize(), cfg.patchDim());
        List<ImageGrid> grids = batch.grids();
        int totalPatches = batch.patches();
        int[] segments = batch.frameSegments(); // attention never crosses a frame
        float[] pixels = batch.pixels();
        Tensor x = ops.linear(
                ops.fromFloats(pixels, totalPatches, cfg.patchDim()),
                weights.patchEmbedW(),
                weights.patchEmbedB()); // [N, h]
        tap("patch_embed", x);
        x = ops.add(x, positions.embed(ops, weights.posEmbed(), grids)); // [N, h]
        tap("pos_embed_added", x);
        float[][] cosSin = rotary.tables(grids, null, unit);
        Tensor cos = ops.fromFloats(cosSin[0], totalPatches, cfg.headDim()); // [N, headDim]
        Tensor sin = ops.fromFloats(cosSin[1], totalPatches, cfg.headDim());

        int[] ds = cfg.deepstackVisualIndexes();
        Tensor[] levels = new Tensor[ds.length];
        for (int b = 0; b < weights.blocks().size(); b++) {
            x = weights.blocks()
                    .get(b)
                    .forward(ops, x, cos, sin, segments, cfg.numHeads(), cfg.headDim(), Qwen3VisionTower::geluTanh);
            tap("block_out." + b, x);
            for (int j = 0; j < ds.length; j++) {
                if (ds[j] == b && levels[j] == null) {
                    levels[j] = merge(ops, weights.deepstack().get(j), x); // [N/4, out]
                    tap("deepstack." + j, levels[j]);
                }
            }
        }
        Tensor main = merge(ops, weights.merger(), x); // [N/4, out]
        tap("merger", main);
        List<Tensor> columns = new ArrayList<>(1 + ds.length);
        columns.add(main);
        columns.addAll(List.of(levels));
        Tensor m = columns.size() == 1 ? main : ops.concat(columns, 1); // [N/4, out*(1+levels)]
        return batch.perImage(ops, m);
    }

    /** A merger over {@code x [N, h]}: {@code [N/4, out]}. */
    private Tensor merge(Ops ops, Qwen3VlWeights.Merger m, Tensor x) {
        long units = x.dim(0) / cfg.mergeUnit();
        long merged = (long) cfg.mergeUnit() * cfg.hiddenSize();
        Tensor y = m.postShuffle()
                ? ops.layerNorm(ops.reshape(x, units, merged), m.normW(), m.normB(), EPS)
                : ops.reshape(ops.layerNorm(x, m.normW(), m.normB(), EPS), units, merged); // [N/4, 4h]
        return ops.linear(ops.linearGelu(y, m.fc1W(), m.fc1B()), m.fc2W(), m.fc2B());
    }

    /**
     * PyTorch's {@code gelu(approximate="tanh")}, {@code 0.5·x·(1 + tanh(β(x + 0.044715x³)))}, written as the
     * identical {@code x·sigmoid(2β(x + 0.044715x³))} (the ops have a sigmoid and no tanh).
     */
    static Tensor geluTanh(Ops ops, Tensor x) {
        Tensor inner = ops.add(x, ops.scale(ops.mul(ops.mul(x, x), x), 0.044715f));
        return ops.mul(x, ops.sigmoid(ops.scale(inner, (float) (2 * GELU_TANH_BETA))));
    }
}
