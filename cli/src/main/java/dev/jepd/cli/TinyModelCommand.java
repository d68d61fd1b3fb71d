package dev.jepd.cli;

import dev.jepd.engine.safetensors.DType;
import dev.jepd.models.tiny.TinyQwen25VlWriter;
import dev.jepd.models.tiny.TinyQwen25VlWriter.Options;
import dev.jepd.models.tiny.TinyQwen2VlWriter;
import dev.jepd.models.tiny.TinyQwen3VlWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jepd tiny-model}: writes a deterministic tiny snapshot (a golden checkpoint). */
@Command(
        name = "tiny-model",
        mixinStandardHelpOptions = true,
        description = "Write the built-in tiny Qwen2.5-VL as a Hugging Face snapshot directory (byte-identical to the"
                + " golden reference checkpoint by default).")
public final class TinyModelCommand implements Callable<Integer> {
    @Option(names = "--out", required = true, description = "Directory to write.")
    Path out;

    @Option(names = "--dtype", defaultValue = "BF16", description = "BF16 (default) or F32 weights.")
    DType dtype;

    @Option(names = "--shards", defaultValue = "1", description = "Number of safetensors shards (default 1).")
    int shards;

    @Option(names = "--untied", description = "Write a separate lm_head.weight (tie_word_embeddings false).")
    boolean untied;

    @Option(
            names = "--model-family",
            defaultValue = "qwen2.5-vl",
            description = "qwen2.5-vl (default; the other flags apply to it), qwen2-vl or qwen3-vl (that family's"
                    + " golden checkpoint, BF16, one file).")
    String family;

    @Override
    public Integer call() throws Exception {
        switch (family) {
            case "qwen2.5-vl" -> {}
            case "qwen2-vl" -> {
                System.out.println(TinyQwen2VlWriter.ensure(out));
                return 0;
            }
            case "qwen3-vl" -> {
                System.out.println(TinyQwen3VlWriter.ensure(out));
                return 0;
            }
            default ->
                throw new picocli.CommandLine.ParameterException(
                        new picocli.CommandLine(this),
                        "--model-family must be qwen2.5-vl, qwen2-vl or qwen3-vl, not " + family);
        }
        Options o = Options.golden().withDtype(dtype).withShards(shards).withTiedEmbeddings(!untied);
        System.out.println(TinyQwen25VlWriter.write(out, o));
        return 0;
    }
}
