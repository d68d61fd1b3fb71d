package dev.jepd.models.qwenvl;

import dev.jepd.media.ImageGrid;
import java.util.List;

/**
 * The 2-D rotary of the Qwen2-VL, Qwen2.5-VL and Qwen3-VL vision towers: each patch's row and column, in the
 * processor's patch order (merge groups contiguous), rotate the head dimension as
 * {@code [h·f, w·f, h·f, w·f]} over {@code headDim/4} frequencies {@code f = theta^(-2k / (headDim/2))}.
 */
public final class VisionRotary {
    private final float[] invFreq;
    private final int headDim;

    public VisionRotary(int headDim, double theta) {
        this.headDim = headDim;
        int rotaryDim = headDim / 2;
        invFreq = new float[rotaryDim / 2];
        for (int k = 0; k < invFreq.length; k++) {
            float exponent = (float) (2 * k) / rotaryDim;
            invFreq[k] = 1.0f / (float) Math.pow(theta, exponent);
        }
    }

    /**
     * cos and sin tables {@code [patches, headDim]} each, row-major. With {@code unitOrder} null the rows
     * are in the processor's order; otherwise row group {@code i} (of {@code unit} patches) is the
     * processor's group {@code unitOrder[i]} (Qwen2.5-VL's window order).
     */
    public float[][] tables(List<ImageGrid> grids, int[] unitOrder, int unit) {
        int total = 0;
        for (ImageGrid g : grids) {
            total += g.numPatches();
        }
        int merge = grids.isEmpty() ? 1 : grids.getFirst().mergeSize();
        int[] rows = new int[total];
        int[] cols = new int[total];
        int p = 0;
        for (ImageGrid g : grids) {
            for (int t = 0; t < g.gridT(); t++) {
                for (int bh = 0; bh < g.gridH() / merge; bh++) {
                    for (int bw = 0; bw < g.gridW() / merge; bw++) {
                        for (int i = 0; i < merge; i++) {
                            for (int j = 0; j < merge; j++) {
                                rows[p] = bh * merge + i;
                                cols[p] = bw * merge + j;
                                p++;
                            }
                        }
                    }
                }
            }
        }
        int quarter = invFreq.length;
        float[] cos = new float[total * headDim];
        float[] sin = new float[total * headDim];
        for (int out = 0; out < total; out++) {
            int src = unitOrder == null ? out : unitOrder[out / unit] * unit + out % unit;
            for (int f = 0; f < quarter; f++) {
                float angH = rows[src] * invFreq[f];
                float angW = cols[src] * invFreq[f];
                for (int rep = 0; rep < 2; rep++) {
                    int base = out * headDim + rep * (headDim / 2);
                    cos[base + f] = (float) Math.cos(angH);
                    sin[base + f] = (float) Math.sin(angH);
                    cos[base + quarter + f] = (float) Math.cos(angW);
                    sin[base + quarter + f] = (float) Math.sin(angW);
                }
            }
        }
        return new float[][] {cos, sin};
    }
}
