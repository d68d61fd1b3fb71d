package dev.jepd.tensor.torch;

import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.ref.OpsParitySuite;

/** Every op of {@link TorchBackend} against the pure-Java reference, in float32. */
class TorchOpsParityTest extends OpsParitySuite {
    @Override
    protected TensorBackend openBackend() {
        return new TorchBackend();
    }
}
