package dev.jepd.engine.model;

import dev.jepd.media.PixelValues;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import java.util.List;

/** A vision tower: pixel values in, one embedding row per merged image token out. */
public interface VisionEncoder extends AutoCloseable {
    /** Width of each output row (the LM's hidden size; more for DeepStack models). */
    int embeddingDim();

    /**
     * Per image, its embeddings {@code [tokens, embeddingDim]} in raster order of the merged grid, in
     * {@code ops}' scope.
     */
    List<Tensor> encode(List<PixelValues> images, Ops ops);

    @Override
    void close();
}
