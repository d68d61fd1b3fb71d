package dev.jepd.engine.connector;

import java.util.Arrays;

/**
 * One item's encoder output as read back from the store, widened to f32 from the stored dtype.
 *
 * @param rows row-major {@code [numTokens, dim]}: the merger's raster order, {@code dim} = LM hidden size (times
 *     {@code 1 + len(deepstack_visual_indexes)} for Qwen3-VL)
 */
public record EcEntry(String key, int numTokens, int dim, float[] rows) {
    public EcEntry {
        if (numTokens <= 0 || dim <= 0) {
            throw new IllegalArgumentException(
                    "EC entry " + key + " needs a positive shape, got [" + numTokens + ", " + dim + "]");
        }
        if (rows == null || rows.length != (long) numTokens * dim) {
            throw new IllegalArgumentException("EC entry " + key + " of shape [" + numTokens + ", " + dim + "] needs "
                    + (long) numTokens * dim + " values, got " + (rows == null ? "null" : rows.length));
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EcEntry e
                && key.equals(e.key)
                && numTokens == e.numTokens
                && dim == e.dim
                && Arrays.equals(rows, e.rows);
    }

    @Override
    public int hashCode() {
        return key.hashCode() * 31 + Arrays.hashCode(rows);
    }

    @Override
    public String toString() {
        return "EcEntry[" + key + " [" + numTokens + ", " + dim + "]]";
    }
}
