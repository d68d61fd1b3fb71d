package dev.jepd.cli;

import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.engine.text.ContentPart;
import dev.jepd.media.ImageDecoder;
import dev.jepd.media.MediaException;
import dev.jepd.media.PixelBounds;
import dev.jepd.media.RgbImage;
import dev.jepd.models.ModelParts;
import dev.jepd.serving.EncodedImage;
import dev.jepd.serving.ModelRuntime;
import dev.jepd.serving.RuntimeOptions;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jepd generate}: one chat turn on a local model, the generated text (only) on stdout. */
@Command(
        name = "generate",
        mixinStandardHelpOptions = true,
        description = "Generate a reply to one user turn (images first, then the prompt) with a local model."
                + " Prints only the generated text on stdout; logs go to stderr.")
public final class GenerateCommand implements Callable<Integer> {
    @picocli.CommandLine.Mixin
    BackendOptions backendOptions = new BackendOptions();

    @Option(names = "--model", required = true, description = "Hugging Face snapshot directory.")
    Path model;

    @Option(names = "--image", description = "Image file (PNG or JPEG); repeat for several, omit for text only.")
    List<Path> images = new ArrayList<>();

    @Option(names = "--prompt", required = true, description = "The user's text.")
    String prompt;

    @Option(
            names = "--max-tokens",
            defaultValue = "64",
            description = "Most tokens to generate (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling mass (default ${DEFAULT-VALUE}).")
    double topP;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens; 0 = off.")
    int topK;

    @Option(names = "--seed", description = "Seed for sampling (reproducible output).")
    Long seed;

    @Option(names = "--max-pixels", description = "Override preprocessor max_pixels for this call.")
    Long maxPixels;

    @Option(names = "--min-pixels", description = "Override preprocessor min_pixels for this call.")
    Long minPixels;

    @Override
    public Integer call() throws IOException {
        SamplingParams sampling = SamplingParams.builder()
                .temperature(temperature)
                .topP(topP)
                .topK(topK)
                .seed(seed)
                .maxTokens(maxTokens)
                .build();
        List<RgbImage> decoded = new ArrayList<>();
        ImageDecoder decoder = new ImageDecoder();
        for (Path p : images) {
            byte[] bytes;
            try {
                bytes = Files.readAllBytes(p);
            } catch (NoSuchFileException e) {
                throw new MediaException(MediaException.Reason.NOT_FOUND, "image file " + p + " does not exist");
            }
            try {
                decoded.add(decoder.decode(bytes));
            } catch (MediaException e) {
                throw new MediaException(e.reason(), p + ": " + e.getMessage(), e);
            }
        }
        List<ContentPart> parts = new ArrayList<>();
        for (int i = 0; i < decoded.size(); i++) {
            parts.add(new ContentPart.Image(i));
        }
        parts.add(new ContentPart.Text(prompt));
        RuntimeOptions options = RuntimeOptions.defaults(decoded.isEmpty() ? ModelParts.LANGUAGE : ModelParts.ALL)
                .withSeed(seed == null ? 0 : seed);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (ModelRuntime rt = ModelRuntime.open(model, options, backendOptions::create)) {
            List<EncodedImage> encoded =
                    decoded.isEmpty() ? List.of() : rt.encode(decoded, new PixelBounds(minPixels, maxPixels));
            var request = rt.prepare(
                    "generate-0", List.of(ChatMessage.user(parts.toArray(ContentPart[]::new))), encoded, sampling);
            rt.generate(request, delta -> {
                out.print(delta);
                out.flush();
            });
            out.println();
        }
        return 0;
    }
}
