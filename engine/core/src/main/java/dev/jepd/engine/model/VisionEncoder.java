package dev.jepd.engine.model;

import dev.jepd.media.PixelValues;
import java.util.List;

/** A vision tower: pixel values in, one embedding row per merged image token out. */
public interface VisionEncoder extends AutoCloseable {
    /** Width of each output row (the LM's hidden size; more for DeepStack models). */
    int embeddingDim();

    /** Per image, its embeddings [tokens, embeddingDim] row-major in raster order of the merged grid. */
    List<float[]> encode(List<PixelValues> images);

    @Override
    void close();
}
