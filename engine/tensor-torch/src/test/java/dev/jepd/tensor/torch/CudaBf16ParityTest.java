package dev.jepd.tensor.torch;

import dev.jepd.tensor.TensorBackend;
import org.junit.jupiter.api.Tag;

/** The bf16 op parity of {@link TorchBf16ParityTest}, with its rounding-model tolerances, on a CUDA device. */
@Tag("gpu")
class CudaBf16ParityTest extends TorchBf16ParityTest {
    @Override
    TensorBackend backendUnderTest() {
        return TorchBackend.on(GpuTestDevice.require(), null);
    }
}
