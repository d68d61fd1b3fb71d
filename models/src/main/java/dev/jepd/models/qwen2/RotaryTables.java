package dev.jepd.models.qwen2;

/**
 * cos/sin tables for (multimodal) rotary embeddings, computed on the host in float32 like the reference:
 * angle = position[axis(j)] · invFreq[j], where axis(j) follows {@code mrope_section} over the first half of
 * the head and repeats for the second half (rotate_half layout).
 */
public final class RotaryTables {
    private final float[] invFreq; // [headDim/2]
    private final int[] axisOf; // [headDim/2]
    private final int headDim;

    public RotaryTables(int headDim, double theta, int[] mropeSection) {
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
            int j = 0;
            for (int axis = 0; axis < mropeSection.length; axis++) {
                for (int i = 0; i < mropeSection[axis]; i++) {
                    axisOf[j++] = axis;
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
