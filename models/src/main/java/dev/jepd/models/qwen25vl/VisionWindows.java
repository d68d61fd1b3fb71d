package dev.jepd.models.qwen25vl;

import dev.jepd.media.ImageGrid;
import java.util.ArrayList;
import java.util.List;

/**
 * The bookkeeping of Qwen2.5-VL's windowed vision attention, computed on the host: which merged units
 * form each window, the permutation of merged units into window order, and the token ranges of the
 * attention segments (windows for windowed blocks, whole frames for full-attention blocks).
 *
 * @param windowIndex merged-unit permutation: window order position → raster merged-unit index
 * @param windowSegments cumulative token boundaries of the windows, in window order, empty windows dropped
 * @param frameSegments cumulative token boundaries of each image frame
 */
public record VisionWindows(int[] windowIndex, int[] windowSegments, int[] frameSegments) {

    /** One image grid in patches. */

    /**
     * @param windowSize the window in pixels (config {@code window_size})
     */
    public static VisionWindows of(List<ImageGrid> grids, int windowSize, int patchSize, int merge) {
        int unitsPerWindowSide = windowSize / merge / patchSize;
        int mergeUnit = merge * merge;
        List<Integer> index = new ArrayList<>();
        List<Integer> windows = new ArrayList<>(List.of(0));
        List<Integer> frames = new ArrayList<>(List.of(0));
        int base = 0;
        for (ImageGrid g : grids) {
            int lh = g.gridH() / merge;
            int lw = g.gridW() / merge;
            // As the reference: the padding is a full window when the side is already a multiple.
            int padH = unitsPerWindowSide - lh % unitsPerWindowSide;
            int padW = unitsPerWindowSide - lw % unitsPerWindowSide;
            int nwh = (lh + padH) / unitsPerWindowSide;
            int nww = (lw + padW) / unitsPerWindowSide;
            for (int t = 0; t < g.gridT(); t++) {
                for (int wh = 0; wh < nwh; wh++) {
                    for (int ww = 0; ww < nww; ww++) {
                        int count = 0;
                        for (int r = 0; r < unitsPerWindowSide; r++) {
                            for (int c = 0; c < unitsPerWindowSide; c++) {
                                int row = wh * unitsPerWindowSide + r;
                                int col = ww * unitsPerWindowSide + c;
                                if (row < lh && col < lw) {
                                    index.add(base + t * lh * lw + row * lw + col);
                                    count++;
                                }
                            }
                        }
                        if (count > 0) {
                            windows.add(windows.getLast() + count * mergeUnit);
                        }
                    }
                }
                frames.add(frames.getLast() + g.gridH() * g.gridW());
            }
            base += g.gridT() * lh * lw;
        }
        return new VisionWindows(toArray(index), toArray(windows), toArray(frames));
    }

    /** The inverse permutation: raster merged-unit index → window order position. */
    public int[] reverseIndex() {
        int[] rev = new int[windowIndex.length];
        for (int i = 0; i < windowIndex.length; i++) {
            rev[windowIndex[i]] = i;
        }
        return rev;
    }

    private static int[] toArray(List<Integer> list) {
        return list.stream().mapToInt(Integer::intValue).toArray();
    }
}
