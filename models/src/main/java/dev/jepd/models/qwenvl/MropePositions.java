package dev.jepd.models.qwenvl;

import dev.jepd.engine.model.PromptPositions;
import dev.jepd.media.ImageGrid;
import java.util.List;

/**
 * Qwen2-VL / Qwen2.5-VL M-RoPE positions (transformers' {@code get_rope_index}, images only): text tokens
 * count up on all three axes; an image's tokens take (t, row, col) of its merged grid, offset by the next
 * free position; the text after an image resumes at the image's largest position + 1. Images' temporal
 * index is 0 (a still image is one temporal patch).
 */
public final class MropePositions {
    private MropePositions() {}

    /**
     * @param ids the prompt with every image's pad token expanded to its token count
     * @param grids the images in prompt order
     */
    public static PromptPositions of(int[] ids, List<ImageGrid> grids, int imageTokenId) {
        long[][] pos = new long[3][ids.length];
        long next = 0;
        int image = 0;
        int i = 0;
        while (i < ids.length) {
            if (ids[i] != imageTokenId) {
                pos[0][i] = pos[1][i] = pos[2][i] = next++;
                i++;
                continue;
            }
            if (image >= grids.size()) {
                throw new IllegalArgumentException(
                        "prompt has more image token runs than images (" + grids.size() + ")");
            }
            ImageGrid g = grids.get(image++);
            int lh = g.gridH() / g.mergeSize();
            int lw = g.gridW() / g.mergeSize();
            int n = g.numTokens();
            if (i + n > ids.length) {
                throw new IllegalArgumentException(
                        "image " + (image - 1) + " needs " + n + " tokens, prompt has " + (ids.length - i) + " left");
            }
            int k = 0;
            for (int t = 0; t < g.gridT(); t++) {
                for (int r = 0; r < lh; r++) {
                    for (int c = 0; c < lw; c++, k++) {
                        if (ids[i + k] != imageTokenId) {
                            throw new IllegalArgumentException(
                                    "image " + (image - 1) + " expects " + n + " consecutive image tokens");
                        }
                        pos[0][i + k] = next;
                        pos[1][i + k] = next + r;
                        pos[2][i + k] = next + c;
                    }
                }
            }
            // A still image spans one temporal index (the reference scales t by seconds-per-grid = 0).
            next += Math.max(lh - 1, lw - 1) + 1;
            i += n;
        }
        if (image != grids.size()) {
            throw new IllegalArgumentException(
                    "prompt has " + image + " image token runs but " + grids.size() + " images were given");
        }
        return new PromptPositions(pos, next - ids.length);
    }
}
