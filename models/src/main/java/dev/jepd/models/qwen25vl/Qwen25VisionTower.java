package dev.jepd.models.qwen25vl;

import dev.jepd.engine.safetensors.TensorSource;
import dev.jepd.media.PixelValues;
import dev.jepd.models.qwen25vl.Qwen25VlWeights.Block;
import dev.jepd.models.qwenvl.VisionAttention;
import dev.jepd.models.qwenvl.VisionBatch;
import dev.jepd.models.qwenvl.VisionRotary;
import dev.jepd.models.qwenvl.VisionTowerBase;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.util.List;

/**
 * The Qwen2.5-VL vision transformer (DESIGN §5.3): patch embedding as a matmul on flattened patches, 2-D
 * rotary on (row, col), windowed attention except in the full-attention blocks, RMSNorm + SwiGLU blocks,
 * and the merger that groups 2×2 neighbours into one LM-sized token. Several images run as one batch:
 * their patches are concatenated and attention never crosses an image's frames.
 */
public final class Qwen25VisionTower extends VisionTowerBase<Qwen25VlWeights.Vision> {
    private static final float EPS = 1e-6f;
    private static final double ROPE_THETA = 10000.0;

    private final Qwen25VlConfig.VisionConfig cfg;
    private final VisionRotary rotary;

    public Qwen25VisionTower(TensorBackend backend, Qwen25VlConfig config, TensorSource weights) {
        super(
                backend,
                ops -> Qwen25VlWeights.Vision.of(
                        Qwen25VlWeights.visionTable(config)
                                .load(Qwen25VlWeights.loader(true), weights, ops, "the Qwen2.5-VL vision tower"),
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
        int merge = cfg.spatialMergeSize();
        int unit = cfg.mergeUnit();
        int hidden = cfg.hiddenSize();
        VisionBatch batch = VisionBatch.of(images, merge, cfg.patchDim());
        int totalPatches = batch.patches();
        VisionWindows windows = VisionWindows.of(batch.grids(), cfg.windowSize(), cfg.patchSize(), merge);
        int units = totalPatches / unit;
        Tensor x = ops.linear(
                ops.fromFloats(batch.pixels(), totalPatches, cfg.patchDim()),
                weights.patchEmbed(),
                null); // [N, hidden]
        tap("patch_embed", x);

        // Into window order, moving whole merge groups of 4 consecutive patches.
        Tensor windowIdx = ops.fromLongs(toLongs(windows.windowIndex()), units);
        x = ops.reshape(ops.gatherRows(ops.reshape(x, units, (long) unit * hidden), windowIdx), totalPatches, hidden);
        float[][] cosSin = rotary.tables(batch.grids(), windows.windowIndex(), unit);
        Tensor cos = ops.fromFloats(cosSin[0], totalPatches, cfg.headDim()); // [N, headDim]
        Tensor sin = ops.fromFloats(cosSin[1], totalPatches, cfg.headDim());

        // Each residual add runs with the RMSNorm after it: the next block's norm1, after the last block the merger's.
        List<Block> blocks = weights.blocks();
        // h: x normed for what comes next, a block (its norm1) or after the last block the merger (its ln_q)
        Tensor h = ops.rmsNorm(
                x, blocks.isEmpty() ? weights.mergerNorm() : blocks.getFirst().norm1(), EPS);
        for (int b = 0; b < blocks.size(); b++) {
            int[] segments = cfg.isFullAttention(b) ? windows.frameSegments() : windows.windowSegments();
            Block w = blocks.get(b);
            Ops.Normed r = ops.addRmsNorm(
                    x,
                    VisionAttention.apply(
                            ops,
                            h,
                            w.qkvW(),
                            w.qkvB(),
                            w.projW(),
                            w.projB(),
                            cos,
                            sin,
                            segments,
                            cfg.numHeads(),
                            cfg.headDim()),
                    w.norm2(),
                    EPS);
            Tensor mlp = ops.linearSiluMul(r.normed(), w.gateW(), w.gateB(), w.upW(), w.upB());
            Tensor next = b + 1 < blocks.size() ? blocks.get(b + 1).norm1() : weights.mergerNorm();
            Ops.Normed r2 = ops.addRmsNorm(r.sum(), ops.linear(mlp, w.downW(), w.downB()), next, EPS);
            x = r2.sum();
            tap("block_out." + b, x);
            h = r2.normed();
        }

        // Merger: the RMSNorm above (h), then 4 neighbours side by side, Linear, GELU, Linear.
        Tensor m = ops.reshape(h, units, (long) unit * hidden); // [N/4, 4*hidden]
        m = ops.linear(ops.linearGelu(m, weights.fc1W(), weights.fc1B()), weights.fc2W(), weights.fc2B()); // [N/4, out]
        m = ops.gatherRows(m, ops.fromLongs(toLongs(windows.reverseIndex()), units)); // raster order
        return batch.perImage(ops, m);
    }

    static long[] toLongs(int[] a) {
        long[] out = new long[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i];
        }
        return out;
    }
}
