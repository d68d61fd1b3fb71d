package dev.jepd.tensor.djl;

import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.ref.OpsParitySuite;

/** Every op of {@link DjlBackend} against the pure-Java reference. */
class DjlOpsParityTest extends OpsParitySuite {
    @Override
    protected TensorBackend openBackend() {
        return new DjlBackend();
    }
}
