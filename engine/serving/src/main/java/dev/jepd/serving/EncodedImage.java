package dev.jepd.serving;

import dev.jepd.media.ImageGrid;

/** An image's embeddings [grid.numTokens(), dim] row-major in raster order, and its grid. */
public record EncodedImage(ImageGrid grid, float[] embeddings, int dim) {
    public EncodedImage {
        if (embeddings.length != grid.numTokens() * dim) {
            throw new IllegalArgumentException("embeddings of " + embeddings.length + " floats for " + grid.numTokens()
                    + " tokens of width " + dim);
        }
    }
}
