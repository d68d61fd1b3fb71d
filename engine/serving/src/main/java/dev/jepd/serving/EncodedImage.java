package dev.jepd.serving;

import dev.jepd.engine.model.ImageGrid;

/** An image's embeddings [grid.tokens(), dim] row-major in raster order, and its grid. */
public record EncodedImage(ImageGrid grid, float[] embeddings, int dim) {
    public EncodedImage {
        if (embeddings.length != grid.tokens() * dim) {
            throw new IllegalArgumentException(
                    "embeddings of " + embeddings.length + " floats for " + grid.tokens() + " tokens of width " + dim);
        }
    }
}
