package dev.jepd.cli;

import dev.jepd.engine.media.ImageDecoder;
import dev.jepd.engine.media.PixelBounds;
import dev.jepd.engine.media.RgbImage;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.engine.text.ContentPart;
import dev.jepd.models.ModelParts;
import dev.jepd.models.runtime.ModelRuntime;
import dev.jepd.models.runtime.RuntimeOptions;
import dev.jepd.models.tiny.TinyModels;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd demo}: the built-in tiny model answering a real image request, with timings. This stage runs
 * encoder and language model in one process; the E+PD cluster behind the proxy is the next milestone.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description = "Run the built-in tiny Qwen2.5-VL on a built-in image and print the answer and its timings.")
public final class DemoCommand implements Callable<Integer> {
    @Option(
            names = "--model-dir",
            description = "Where the tiny model lives (default: <jepd home>/target/tiny-qwen2.5-vl).")
    Path modelDir;

    @Option(names = "--max-tokens", defaultValue = "16", description = "Tokens to generate (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--once", description = "Accepted for compatibility with the cluster demo; this demo always exits.")
    boolean once;

    @Override
    public Integer call() throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        Path home = Path.of(System.getProperty("jepd.home", "."));
        Path dir = TinyModels.ensureGolden(
                modelDir != null ? modelDir : home.resolve("target").resolve("tiny-qwen2.5-vl"));
        byte[] png;
        try (InputStream in = DemoCommand.class.getResourceAsStream("/dev/jepd/demo/demo.png")) {
            png = in.readAllBytes();
        }
        out.println("model : " + dir + " (tiny random-weight Qwen2.5-VL, so the text is gibberish by design)");
        long t0 = System.nanoTime();
        try (ModelRuntime rt = ModelRuntime.open(dir, RuntimeOptions.defaults(ModelParts.ALL))) {
            long loaded = System.nanoTime();
            RgbImage img = new ImageDecoder().decode(png);
            var encoded = rt.encode(List.of(img), PixelBounds.NONE);
            long encodedAt = System.nanoTime();
            var request = rt.prepare(
                    "demo",
                    List.of(ChatMessage.user(new ContentPart.Image(0), new ContentPart.Text("Describe this image."))),
                    encoded,
                    SamplingParams.greedy(maxTokens));
            out.println("image : " + img.width() + "x" + img.height() + " -> "
                    + encoded.getFirst().grid().tokens() + " image tokens; prompt " + request.promptIds().length
                    + " tokens");
            out.print("answer: ");
            long[] first = {0};
            var result = rt.generate(request, delta -> {
                if (first[0] == 0) {
                    first[0] = System.nanoTime();
                }
                out.print(delta);
            });
            long done = System.nanoTime();
            out.println();
            int n = result.tokenIds().size();
            out.printf(
                    "timing: load %.0f ms | vision encode %.1f ms | TTFT %.1f ms (from prefill start) | %d tokens in %.1f ms"
                            + " (%.1f tok/s decode)%n",
                    ms(loaded - t0),
                    ms(encodedAt - loaded),
                    ms(first[0] - encodedAt),
                    n,
                    ms(done - encodedAt),
                    n > 1 ? (n - 1) / ((done - first[0]) / 1e9) : 0.0);
            out.println("finish: " + result.finishReason().wireName() + ", usage " + result.usage());
        }
        return 0;
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }
}
