package dev.jepd.models.qwen25vl;

import dev.jepd.engine.safetensors.TensorSource;
import dev.jepd.models.qwen2.Qwen2Decoder;
import dev.jepd.models.qwen2.Qwen2TextParams;
import dev.jepd.tensor.TensorBackend;

/** Builds the Qwen2.5-VL parts from a config and a checkpoint. */
public final class Qwen25VlModel {
    private Qwen25VlModel() {}

    public static Qwen2TextParams textParams(Qwen25VlConfig c) {
        return new Qwen2TextParams(
                c.hiddenSize(),
                c.intermediateSize(),
                c.numLayers(),
                c.numHeads(),
                c.numKvHeads(),
                c.headDim(),
                c.vocabSize(),
                (float) c.rmsNormEps(),
                c.ropeTheta(),
                c.mropeSection(),
                false,
                c.tieWordEmbeddings(),
                true, // every Qwen2.5-VL checkpoint has q/k/v biases
                false,
                0);
    }

    public static Qwen2Decoder decoder(TensorBackend backend, Qwen25VlConfig c, TensorSource weights) {
        return new Qwen2Decoder(backend, textParams(c), weights, Qwen25VlWeights.loader(false));
    }
}
