package dev.jepd.models.tiny;

import java.util.Arrays;

/**
 * One generated tensor: its name, shape and how its values are made.
 *
 * @param kind {@code W}: {@code u * scale * sqrt(3)} (uniform with standard deviation {@code scale});
 *     {@code N}: {@code 1 + u * scale} (norm weights around 1); {@code u} uniform in [-1, 1)
 */
public record TensorSpec(String name, long[] shape, Kind kind, double scale) {
    public enum Kind {
        W,
        N
    }

    public long numel() {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorSpec t
                && name.equals(t.name)
                && Arrays.equals(shape, t.shape)
                && kind == t.kind
                && Double.compare(scale, t.scale) == 0;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + " " + kind + " " + scale;
    }
}
