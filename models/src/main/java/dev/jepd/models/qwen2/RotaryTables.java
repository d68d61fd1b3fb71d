package dev.jepd.models.qwen2;

/**
 * cos/sin tables for (multimodal) rotary embeddings, computed on the host in float32 like the reference:
 * angle = position[axis(j)] · invFreq[j] over the first half of the head, repeated for the second half
 * (rotate_half layout). axis(j) follows {@code mrope_section}: in consecutive sections (Qwen2-VL, Qwen2.5-VL),
 * or interleaved (Qwen3-VL: frequency j is h's when j % 3 == 1 and j < 3·section[1], w's when j % 3 == 2 and
 * j < 3·section[2], t's otherwise, as transformers' {@code Qwen3VLTextRotaryEmbedding} recomposes them).
 */
public final class RotaryTables {
    private final float[] invFreq; // [headDim/2]
    private final int[] axisOf; // [headDim/2]
    private final int headDim;

    public RotaryTables(int headDim, double theta, int[] mropeSection) {
        this(headDim, theta, mropeSection, false);
    }

    public RotaryTables(int headDim, double theta, int[] mropeSection, boolean interleaved) {
        this.headDim = headDim;
        int half = headDim / 2;
        invFreq = new float[half];
        for (int k = 0; k < half; k++) {
            float exponent = (float) (2 * k) / headDim;
            invFreq[k] = 1.0f / (float) Math.pow(theta, exponent);
        }
        axisOf = new int[half];
        if (mropeSection != null) {
            int sum = 0;
            for (int s : mropeSection) {
                sum += s;
            }
            if (sum != half) {
                throw new IllegalArgumentException("mrope_section sums to " + sum + " but head_dim/2 is " + half);
            }
            if (interleaved) {
                if (mropeSection.length != 3) {
                    throw new IllegalArgumentException("interleaved M-RoPE needs 3 sections (t, h, w), got "
                            + java.util.Arrays.toString(mropeSection));
                }
                for (int j = 0; j < half; j++) {
                    int axis = j % 3;
                    axisOf[j] = axis != 0 && j < 3 * mropeSection[axis] ? axis : 0;
                }
            } else {
                int j = 0;
                for (int axis = 0; axis < mropeSection.length; axis++) {
                    for (int i = 0; i < mropeSection[axis]; i++) {
                        axisOf[j++] = axis;
                    }
                }
            }
        }
    }

    /** Returns {cos, sin}, each [n, headDim] row-major, for positions [axes][n]. */
    public float[][] tables(long[][] positions) {
        int n = positions[0].length;
        int half = headDim / 2;
        float[] cos = new float[n * headDim];
        float[] sin = new float[n * headDim];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < half; j++) {
                long pos = positions[Math.min(axisOf[j], positions.length - 1)][i];
                float angle = (float) pos * invFreq[j];
                float c = (float) Math.cos(angle);
                float s = (float) Math.sin(angle);
                cos[i * headDim + j] = c;
                cos[i * headDim + half + j] = c;
                sin[i * headDim + j] = s;
                sin[i * headDim + half + j] = s;
            }
        }
        return new float[][] {cos, sin};
    }
}
