package dev.jepd.models.qwenvl;

import dev.jepd.media.ImageGrid;
import dev.jepd.media.PixelValues;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The images of one vision-tower call as one batch of patches, as the Qwen-VL towers take them: each image's
 * grid (checked against the merge size), all pixel rows back to back, and the way back from the merged rows
 * to one tensor per image.
 *
 * @param pixels {@code [patches, patchDim]} row-major, images in order
 */
public record VisionBatch(List<ImageGrid> grids, float[] pixels, int patches) {
    public static VisionBatch of(List<PixelValues> images, int merge, int patchDim) {
        List<ImageGrid> grids = new ArrayList<>(images.size());
        int total = 0;
        for (PixelValues p : images) {
            if (p.gridH() % merge != 0 || p.gridW() % merge != 0) {
                throw new IllegalArgumentException(
                        "image grid " + p.gridH() + "x" + p.gridW() + " is not a multiple of the merge size " + merge);
            }
            grids.add(new ImageGrid(p.gridT(), p.gridH(), p.gridW(), merge));
            total += p.numPatches();
        }
        float[] pixels = new float[Math.multiplyExact(total, patchDim)];
        int off = 0;
        for (PixelValues p : images) {
            System.arraycopy(p.data(), 0, pixels, off, p.data().length);
            off += p.data().length;
        }
        return new VisionBatch(List.copyOf(grids), pixels, total);
    }

    /** Cumulative patch boundaries of every frame {@code [0, ..., patches]}: full attention stays inside one. */
    public int[] frameSegments() {
        List<Integer> frames = new ArrayList<>();
        frames.add(0);
        for (ImageGrid g : grids) {
            for (int t = 0; t < g.gridT(); t++) {
                frames.add(frames.getLast() + g.gridH() * g.gridW());
            }
        }
        return frames.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The merged rows {@code [tokens of all images, D]} cut into one tensor per image, in order. */
    public List<Tensor> perImage(Ops ops, Tensor merged) {
        if (grids.size() == 1) {
            return List.of(merged);
        }
        List<Tensor> out = new ArrayList<>(grids.size());
        int row = 0;
        for (ImageGrid g : grids) {
            out.add(ops.slice(merged, 0, row, row + g.numTokens())); // [tokens, D]
            row += g.numTokens();
        }
        return out;
    }
}
