package dev.jepd.tensor.torch;

import java.nio.file.Path;

/**
 * A libtorch on disk: the directory that holds {@code libtorch_cpu.so} and its neighbours, its version
 * when known, and where it came from (said on the ready line).
 *
 * @param libDir the directory of {@code libtorch_cpu.so}
 * @param version e.g. {@code 2.7.1}, or {@code unknown}
 * @param source how it was found: {@code --torch-library-path}, {@code JEPD_TORCH_LIBRARY_PATH},
 *     {@code JEPD_PYTHON=...}, or {@code embedded pytorch-native-cpu}
 */
public record LibTorchLocation(Path libDir, String version, String source) {
    /** The library that exports the AOTInductor shim and the dispatcher entry point. */
    public Path torchCpu() {
        return libDir.resolve("libtorch_cpu.so");
    }

    @Override
    public String toString() {
        return "libtorch " + version + " at " + libDir + " (" + source + ")";
    }
}
