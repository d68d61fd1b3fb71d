package dev.jepd.cli;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.torch.LibTorchLocator;
import dev.jepd.tensor.torch.TorchBackend;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine.Option;

/**
 * The tensor backend flags of {@code serve} and {@code generate}: vLLM's {@code --device} and {@code --dtype},
 * and JEPD's {@code --backend} and {@code --torch-library-path}. Every run is on libtorch through its C ABI;
 * {@code auto} keeps a plain CPU run in float32 (the goldens' exact parity) and puts a run that finds a CUDA
 * build of torch on its first GPU in bf16.
 */
public final class BackendOptions {
    @Option(
            names = "--device",
            defaultValue = "auto",
            description = "cpu, cuda[:N] or auto (vLLM's --device): auto is cuda:0 when the torch found (JEPD_PYTHON,"
                    + " JEPD_TORCH_LIBRARY_PATH or --torch-library-path) is a CUDA build and a GPU is present, else"
                    + " cpu (default ${DEFAULT-VALUE}).")
    String device;

    @Option(
            names = "--backend",
            defaultValue = "auto",
            description = "Tensor backend: torch (libtorch's C ABI through Panama: CPU or CUDA, float32 or bfloat16)"
                    + " or auto, the same; DJL's JNI backend was removed (default ${DEFAULT-VALUE}).")
    String backend;

    @Option(
            names = "--dtype",
            defaultValue = "auto",
            description = "Compute dtype (vLLM's --dtype): auto, bfloat16 or float32 (also bf16, float, f32); auto is"
                    + " bfloat16 on a GPU and float32 on the CPU (default ${DEFAULT-VALUE}).")
    String dtype;

    @Option(
            names = "--torch-library-path",
            description = "Directory holding libtorch_cpu.so (and libtorch_cuda.so for a GPU): a libtorch's lib/ or a"
                    + " wheel's torch/lib. Default: JEPD_TORCH_LIBRARY_PATH, then JEPD_PYTHON's torch, then the"
                    + " embedded CPU build.")
    Path torchLibraryPath;

    /** The backend these flags name, on its device; a device that cannot be used fails here, at start-up. */
    public TensorBackend create() {
        if (torchLibraryPath != null) {
            System.setProperty(LibTorchLocator.PATH_PROPERTY, torchLibraryPath.toString());
        }
        Device d = device();
        boolean gpu = d.type() != Device.Type.CPU;
        DType t = computeType(gpu);
        return switch (backend) {
            case "auto", "torch" -> TorchBackend.on(d, t);
            case "djl" ->
                throw new IllegalArgumentException(
                        "--backend djl is gone: DJL's JNI backend was removed; libtorch (--backend torch) runs every model");
            default -> throw new IllegalArgumentException("--backend must be torch or auto, got " + backend);
        };
    }

    /** The device named, {@code auto} resolved without loading libtorch unless a torch was pointed at. */
    Device device() {
        if (!device.equals("auto")) {
            return Device.parse(device.toLowerCase(Locale.ROOT));
        }
        boolean torchNamed = torchLibraryPath != null
                || notBlank(System.getProperty(LibTorchLocator.PATH_PROPERTY))
                || notBlank(System.getenv(LibTorchLocator.PATH_ENV))
                || notBlank(System.getenv(LibTorchLocator.PYTHON_ENV));
        if (!torchNamed) {
            return Device.CPU; // the embedded libtorch is a CPU build: nothing to look for
        }
        return TorchBackend.resolve("auto");
    }

    private DType computeType(boolean gpu) {
        return switch (dtype.toLowerCase(Locale.ROOT)) {
            case "auto" -> gpu ? DType.BF16 : DType.F32;
            case "bfloat16", "bf16" -> DType.BF16;
            case "float32", "float", "f32" -> DType.F32;
            default -> throw new IllegalArgumentException("--dtype must be auto, bfloat16 or float32, got " + dtype);
        };
    }

    private static boolean notBlank(String s) {
        return s != null && !s.isBlank();
    }
}
