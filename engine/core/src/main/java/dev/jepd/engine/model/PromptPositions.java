package dev.jepd.engine.model;

/**
 * Rotary positions of a prompt, per axis, and the offset decode positions continue from.
 *
 * @param positions [axes][promptLength]
 * @param delta decode token at sequence index i sits at position {@code i + delta} on every axis
 *     ({@code mrope_position_delta}; 0 for 1-D RoPE)
 */
public record PromptPositions(long[][] positions, long delta) {
    public int length() {
        return positions[0].length;
    }

    /** Positions [axes][n] of sequence indices start..start+n-1 past the prompt. */
    public static long[][] decode(int axes, int start, int n, long delta) {
        long[][] out = new long[axes][n];
        for (int a = 0; a < axes; a++) {
            for (int i = 0; i < n; i++) {
                out[a][i] = start + i + delta;
            }
        }
        return out;
    }
}
