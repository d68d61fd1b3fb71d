package dev.jepd.models.qwen3vl;

import dev.jepd.media.ImageGrid;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import java.util.List;

/**
 * Qwen3-VL's learned position embeddings on an image's grid: the square {@code side × side} table resampled
 * bilinearly with aligned corners to the grid's {@code gridH × gridW}, every frame alike, rows in the
 * processor's patch order (merge groups contiguous). As transformers'
 * {@code get_vision_interpolation_indices_and_weights(mode="bilinear", align_corners=True)}: per axis,
 * {@code src = i·(side−1) / max(n−1, 1)} in float32, taps {@code floor(src)} and {@code floor(src)+1} clamped
 * to the table, weights {@code max(0, 1 − |src − tap|)}; the four taps' weights are the products, the
 * embedding their weighted sum.
 */
final class PositionInterpolation {
    private static final int TAPS = 4;

    private final int side;

    PositionInterpolation(int side) {
        this.side = side;
    }

    /** {@code [patches, hidden]} of {@code table [side², hidden]} for the images, concatenated. */
    Tensor embed(Ops ops, Tensor table, List<ImageGrid> grids) {
        int total = 0;
        for (ImageGrid g : grids) {
            total += g.numPatches();
        }
        long[][] index = new long[TAPS][total];
        float[][] weight = new float[TAPS][total];
        int p = 0;
        for (ImageGrid g : grids) {
            int m = g.mergeSize();
            for (int t = 0; t < g.gridT(); t++) {
                for (int bh = 0; bh < g.gridH() / m; bh++) {
                    for (int bw = 0; bw < g.gridW() / m; bw++) {
                        for (int i = 0; i < m; i++) {
                            for (int j = 0; j < m; j++, p++) {
                                Axis h = axis(bh * m + i, g.gridH());
                                Axis w = axis(bw * m + j, g.gridW());
                                for (int a = 0; a < 2; a++) {
                                    for (int b = 0; b < 2; b++) {
                                        index[2 * a + b][p] = (long) h.tap[a] * side + w.tap[b];
                                        weight[2 * a + b][p] = h.weight[a] * w.weight[b];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Tensor sum = null;
        for (int k = 0; k < TAPS; k++) {
            Tensor rows = ops.gatherRows(table, ops.fromLongs(index[k], total)); // [N, hidden]
            Tensor part = ops.mul(rows, ops.fromFloats(weight[k], total, 1));
            sum = sum == null ? part : ops.add(sum, part);
        }
        return sum;
    }

    private record Axis(int[] tap, float[] weight) {}

    /** The two taps and weights of target index {@code i} on an axis of {@code n} cells, in float32. */
    private Axis axis(int i, int n) {
        float src = (float) (i * (side - 1)) / (float) Math.max(n - 1, 1);
        float floor = (float) Math.floor(src);
        int[] tap = new int[2];
        float[] weight = new float[2];
        for (int o = 0; o < 2; o++) {
            tap[o] = Math.clamp((long) floor + o, 0, side - 1);
            float distance = Math.abs(src - floor - o);
            weight[o] = Math.max(1 - distance, 0f);
        }
        return new Axis(tap, weight);
    }
}
