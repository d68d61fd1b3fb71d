package dev.jepd.models.golden;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.torch.TorchBackend;

/**
 * The backend the golden tests run on: libtorch through its C ABI computing in float32 ({@code torch}, the
 * default: the goldens' strict tolerances are float32 ones). {@code torch-bf16} computes in
 * bf16: there only {@code EngineGoldenTest}'s greedy answers apply (they hold), {@code ModelParityTest}'s
 * float32 tolerances do not; {@code Bf16LogprobsTest} holds bf16 to vLLM's {@code check_logprobs_close} rule on
 * every run, whatever this property says.
 */
final class GoldenBackend {
    static final String PROPERTY = "jepd.test.backend";

    private GoldenBackend() {}

    /** {@code cpu} (the default) or {@code cuda:N}: where a torch backend runs (the GPU suite sets it). */
    static final String DEVICE_PROPERTY = "jepd.test.device";

    static TensorBackend open() {
        String name = System.getProperty(PROPERTY, "torch");
        Device device = Device.parse(System.getProperty(DEVICE_PROPERTY, "cpu"));
        return switch (name) {
            case "torch" -> TorchBackend.on(device, DType.F32);
            case "torch-bf16" -> TorchBackend.on(device, DType.BF16);
            default -> throw new IllegalArgumentException(PROPERTY + " must be torch or torch-bf16, got " + name);
        };
    }
}
