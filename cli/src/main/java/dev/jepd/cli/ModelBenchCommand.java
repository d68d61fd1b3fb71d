package dev.jepd.cli;

import dev.jepd.bench.BackendLimits;
import dev.jepd.bench.BenchCheckpoints;
import dev.jepd.bench.BenchSettings;
import dev.jepd.bench.BenchTable;
import dev.jepd.bench.ModelBench;
import dev.jepd.bench.ModelBenchResult;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.media.ModelFamily;
import dev.jepd.tensor.torch.LibTorchLocator;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code jepd bench model}: vision, prefill and decode throughput next to the backend's limits. */
@Command(
        name = "model",
        mixinStandardHelpOptions = true,
        description = {
            "Vision-tower images/s, LM prefill and decode tokens/s through the real engine path, next to the"
                    + " GEMM GFLOP/s and memory GB/s the same tensor backend reaches on this machine.",
            "Without --model it runs on a checkpoint shaped as the --model-family's reference model (Qwen2.5-VL-3B,"
                    + " Qwen2-VL-2B or Qwen3-VL-4B) with random weights and fewer layers, written once under"
                    + " target/bench-models/. The table goes to stdout, logs to stderr."
        })
public final class ModelBenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(
            names = "--model",
            description = "Qwen2.5-VL, Qwen2-VL or Qwen3-VL snapshot directory (default: the family's shaped"
                    + " checkpoint, written if absent).")
    Path model;

    @Option(
            names = "--model-family",
            defaultValue = "qwen2.5-vl",
            description = "qwen2.5-vl (Qwen2.5-VL-3B's shape: 36 text layers, 32 vision blocks), qwen2-vl"
                    + " (Qwen2-VL-2B's: 28, 32) or qwen3-vl (Qwen3-VL-4B's: 36, 24, DeepStack after blocks 5, 11, 17;"
                    + " the shortened tower keeps one DeepStack merger per kept text layer, up to 3, inside the kept"
                    + " blocks): the shaped checkpoint, and the depth the estimate extrapolates to (default"
                    + " ${DEFAULT-VALUE}).")
    String family;

    @Option(
            names = "--text-layers",
            defaultValue = "2",
            description = "Decoder layers of the shaped checkpoint (the real models have 36, 28, 36; default"
                    + " ${DEFAULT-VALUE}).")
    int textLayers;

    @Option(
            names = "--vision-layers",
            defaultValue = "2",
            description = "Vision blocks of the shaped checkpoint (Qwen2.5-VL-3B has 32, blocks 7, 15, 23, 31 with"
                    + " full attention; Qwen2-VL-2B 32, Qwen3-VL-4B 24; default ${DEFAULT-VALUE}).")
    int visionLayers;

    @Option(
            names = "--dtype",
            defaultValue = "bf16",
            description = "Weights on disk and the compute dtype (vLLM's --dtype): bf16 (bfloat16) or f32 (float32)"
                    + " (default ${DEFAULT-VALUE}).")
    String dtype;

    @Option(
            names = "--backend",
            defaultValue = "torch",
            description = "Tensor backend: torch, libtorch's C ABI through Panama (the only one; DJL's JNI backend was"
                    + " removed); it finds libtorch via --torch-library-path, JEPD_TORCH_LIBRARY_PATH, JEPD_PYTHON,"
                    + " else the embedded CPU build (default ${DEFAULT-VALUE}).")
    String backend;

    @Option(
            names = "--device",
            defaultValue = "cpu",
            description = "Where the model runs: cpu or cuda[:N] (vLLM's --device; cuda needs --backend torch and a"
                    + " CUDA build of torch, e.g. JEPD_PYTHON naming a Python that has one; default ${DEFAULT-VALUE}).")
    String device;

    @Option(
            names = "--torch-library-path",
            description = "Directory holding libtorch_cpu.so for --backend torch (a libtorch's lib/ or a wheel's"
                    + " torch/lib).")
    Path torchLibraryPath;

    @Option(
            names = "--image-size",
            defaultValue = "448",
            description = "Square image side in pixels (default ${DEFAULT-VALUE}).")
    int imageSize;

    @Option(
            names = "--prompt-tokens",
            defaultValue = "512",
            description = "Prefill length and decode context (default ${DEFAULT-VALUE}).")
    int promptTokens;

    @Option(
            names = "--decode-tokens",
            defaultValue = "64",
            description = "Timed decode steps per batch size (default ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(
            names = "--decode-batch",
            split = ",",
            defaultValue = "1,8",
            description = "Decode batch sizes, comma-separated (default ${DEFAULT-VALUE}).")
    List<Integer> decodeBatches = new ArrayList<>();

    @Option(
            names = "--warmup",
            defaultValue = "1",
            description = "Untimed runs before the timed ones (default ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--iterations", defaultValue = "5", description = "Timed runs (default ${DEFAULT-VALUE}).")
    int iterations;

    @Option(names = "--json", description = "Also write the results to this file as JSON.")
    Path json;

    @Override
    public Integer call() throws IOException {
        BenchSettings settings;
        BenchCheckpoints.Shape shape;
        try {
            shape = BenchCheckpoints.Shape.of(ModelFamily.parse(family));
            settings = new BenchSettings(
                    imageSize,
                    promptTokens,
                    decodeTokens,
                    decodeBatches,
                    warmup,
                    iterations,
                    shape.textLayers(),
                    shape.visionBlocks(),
                    backend,
                    backend.equals("torch") && diskDtype() == DType.BF16 ? "bfloat16" : "float32",
                    device,
                    shape.deepstack().length);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        if (torchLibraryPath != null) {
            System.setProperty(LibTorchLocator.PATH_PROPERTY, torchLibraryPath.toString());
        }
        Path dir = model != null ? model : defaultModel(shape);
        ModelBenchResult result = ModelBench.run(
                dir,
                settings,
                settings.device().equals("cpu") ? BackendLimits.Sizes.standard() : BackendLimits.Sizes.device());
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        out.print(BenchTable.render(result));
        if (json != null) {
            result.writeJson(json);
            System.err.println("jepd bench model: results written to " + json);
        }
        return 0;
    }

    private DType diskDtype() {
        return switch (dtype) {
            case "bf16", "bfloat16" -> DType.BF16;
            case "f32", "float32" -> DType.F32;
            default -> throw new ParameterException(spec.commandLine(), "--dtype must be bf16 or f32, got " + dtype);
        };
    }

    private Path defaultModel(BenchCheckpoints.Shape shape) throws IOException {
        DType d = diskDtype();
        if (textLayers < 1 || visionLayers < 1) {
            throw new ParameterException(spec.commandLine(), "--text-layers and --vision-layers must be at least 1");
        }
        // bin/jepd sets jepd.home to the project root; elsewhere the working directory stands in.
        Path home = Path.of(System.getProperty("jepd.home", "."));
        Path dir = home.resolve("target").resolve("bench-models").resolve(shape.dirName(textLayers, visionLayers, d));
        return BenchCheckpoints.ensureShaped(shape, dir, textLayers, visionLayers, d);
    }
}
