package dev.jepd.engine.connector;

/**
 * The K and V rows of some whole blocks, read from one paged cache: per layer
 * {@code [numBlocks * blockSize, kvHeads, headDim]} row-major, blocks in the order they were asked for, so that
 * row {@code p} is token position {@code p} of the sequence that owned them.
 */
public record KvBlocks(KvLayout layout, int numBlocks, float[][] keys, float[][] values) {
    public KvBlocks {
        if (keys.length != layout.layers() || values.length != layout.layers()) {
            throw new IllegalArgumentException(
                    "KV blocks for " + keys.length + "/" + values.length + " layers, layout has " + layout.layers());
        }
        long expected = layout.blockFloats(numBlocks);
        for (int l = 0; l < keys.length; l++) {
            if (keys[l].length != expected || values[l].length != expected) {
                throw new IllegalArgumentException("layer " + l + " holds " + keys[l].length + "/" + values[l].length
                        + " floats, " + numBlocks + " blocks need " + expected);
            }
        }
    }

    /** Token positions these blocks hold. */
    public int tokens() {
        return numBlocks * layout.blockSize();
    }
}
