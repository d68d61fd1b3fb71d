package dev.jepd.tensor.torch;

import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.ref.OpsParitySuite;
import org.junit.jupiter.api.Tag;

/** Every op of {@link TorchBackend} on a CUDA device against the pure-Java reference, in float32. */
@Tag("gpu")
class CudaOpsParityTest extends OpsParitySuite {
    @Override
    protected TensorBackend openBackend() {
        return TorchBackend.on(GpuTestDevice.require(), null);
    }
}
