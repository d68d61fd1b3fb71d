package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jepd.tensor.Device;
import java.util.Optional;

/**
 * The device the {@code gpu}-tagged tests run on: {@code jepd.test.device} (default {@code cuda:0}). Where it
 * cannot be used (no CUDA build of torch found, no driver, no such GPU) the tests are skipped, saying why.
 */
public final class GpuTestDevice {
    public static final String PROPERTY = "jepd.test.device";

    private static volatile boolean said;

    private GpuTestDevice() {}

    /** The device, or a skipped test with the reason. */
    public static Device require() {
        String spec = System.getProperty(PROPERTY, "cuda:0");
        Device d = Device.parse(spec);
        // jepd.test.gpu-suite-on-cpu=true: a dry run of the suite's machinery on the CPU (libtorch's CPU kernels)
        if (d.type() == Device.Type.CPU && Boolean.getBoolean("jepd.test.gpu-suite-on-cpu")) {
            return d;
        }
        assumeTrue(d.type() != Device.Type.CPU, PROPERTY + "=" + spec + ": the gpu suite needs a GPU device");
        Optional<String> why;
        try {
            why = TorchBackend.whyUnusable(d);
        } catch (LibTorchUnavailableException e) {
            why = Optional.of(e.getMessage());
        }
        String reason = why.orElse("");
        if (why.isPresent() && !said) {
            said = true; // once per JVM: a class-level skip shows as 0 tests in surefire's summary
            System.err.println("gpu tests skipped, no usable " + d + ": " + reason);
        }
        assumeTrue(why.isEmpty(), () -> "skipped, no usable " + d + ": " + reason);
        return d;
    }
}
