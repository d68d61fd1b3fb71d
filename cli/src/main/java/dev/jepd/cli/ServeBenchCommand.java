package dev.jepd.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.models.tiny.TinyModels;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd bench serve}: like {@code vllm bench serve}, streaming chat requests against a running
 * deployment or, by default, the demo cluster (proxy + encoder + PD on the tiny model) started for the run.
 */
@Command(
        name = "serve",
        mixinStandardHelpOptions = true,
        description = "Serving benchmark (TTFT, TPOT, ITL p50/p99, requests/s, output tokens/s) through a proxy.")
public final class ServeBenchCommand implements Callable<Integer> {
    @Option(names = "--base-url", description = "A running proxy or node; default: start the demo cluster.")
    String baseUrl;

    @Option(
            names = "--model",
            defaultValue = "tiny",
            description = "Model name in requests (default ${DEFAULT-VALUE}).")
    String model;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,16", description = "Runs, one per value (1,16).")
    List<Integer> concurrency;

    @Option(names = "--num-prompts", defaultValue = "64", description = "Requests per run (default ${DEFAULT-VALUE}).")
    int numPrompts;

    @Option(names = "--output-len", defaultValue = "32", description = "Tokens per answer (ignore_eos; default 32).")
    int outputLen;

    @Option(names = "--image-size", defaultValue = "224", description = "Side of the synthetic PNGs (default 224).")
    int imageSize;

    @Option(names = "--image-ratio", defaultValue = "0.5", description = "Share of requests with an image (0.5).")
    double imageRatio;

    @Option(
            names = "--topology",
            defaultValue = "1e1pd",
            description = "Cluster to start when no --base-url is given: 1e1pd (default), 1e1p1d, 2e2p2d, ….")
    String topology;

    @Option(names = "--json", description = "Also write the results as JSON here.")
    Path json;

    @Override
    public Integer call() throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        LocalCluster cluster = null;
        String base = baseUrl;
        if (base == null) {
            Path home = Path.of(System.getProperty("jepd.home", ".")).toAbsolutePath();
            Path modelDir = TinyModels.ensureGolden(home.resolve("target").resolve("tiny-qwen2.5-vl"));
            LocalCluster.Topology topo = LocalCluster.Topology.parse(topology);
            System.err.println("bench serve: starting a " + topo + " demo cluster (logs in target/bench-serve/logs)");
            cluster = LocalCluster.start(home.resolve("target").resolve("bench-serve"), modelDir, List.of(), topo);
            base = cluster.proxyUrl();
        }
        try {
            String url = base + "/v1/chat/completions";
            // Warm-up outside the measurement: JIT, connections, first image path.
            StreamLoad.run(url, 4, 2, i -> body(1_000_000 + i));
            List<StreamLoad.Result> results = new ArrayList<>();
            int offset = 0;
            for (int c : concurrency) {
                int from = offset;
                results.add(StreamLoad.run(url, numPrompts, c, i -> body(from + i)));
                offset += numPrompts;
            }
            out.printf(
                    "jepd bench serve: %s, %d prompts per run, output %d tokens (ignore_eos), %.0f%% with a %dx%d"
                            + " image (unique, so every image is encoded)%n",
                    base, numPrompts, outputLen, imageRatio * 100, imageSize, imageSize);
            out.println("| concurrency | ok/failed | req/s | out tok/s | TTFT mean/p50/p99 ms | TPOT mean/p50/p99 ms"
                    + " | ITL p50/p99 ms | E2E p50/p99 ms |");
            out.println("|---|---|---|---|---|---|---|---|");
            for (StreamLoad.Result r : results) {
                out.printf(
                        "| %d | %d/%d | %.2f | %.1f | %.1f / %.1f / %.1f | %.2f / %.2f / %.2f | %.2f / %.2f | %.0f / %.0f |%n",
                        r.concurrency(),
                        r.requests() - r.failed(),
                        r.failed(),
                        r.requestsPerSecond(),
                        r.outputTokensPerSecond(),
                        r.ttft()[0],
                        r.ttft()[1],
                        r.ttft()[2],
                        r.tpot()[0],
                        r.tpot()[1],
                        r.tpot()[2],
                        r.itl()[1],
                        r.itl()[2],
                        r.e2e()[1],
                        r.e2e()[2]);
            }
            if (json != null) {
                ObjectMapper m = new ObjectMapper();
                ArrayNode arr = m.createArrayNode();
                results.forEach(r -> arr.add(m.valueToTree(r)));
                m.writerWithDefaultPrettyPrinter().writeValue(json.toFile(), arr);
            }
            return results.stream().anyMatch(r -> r.failed() > 0) ? 1 : 0;
        } finally {
            if (cluster != null) {
                cluster.close();
            }
        }
    }

    private String body(int i) {
        ObjectNode b = new ObjectMapper().createObjectNode();
        b.put("model", model);
        ArrayNode content =
                b.putArray("messages").addObject().put("role", "user").putArray("content");
        boolean image = (i * 0.618034 % 1.0) < imageRatio;
        if (image) {
            content.addObject().put("type", "image_url").putObject("image_url").put("url", pngDataUrl(i));
        }
        content.addObject()
                .put("type", "text")
                .put("text", image ? "Describe this image." : "Tell me about request " + i);
        b.put("max_tokens", outputLen);
        b.put("ignore_eos", true);
        b.put("temperature", 0);
        b.put("stream", true);
        b.putObject("stream_options").put("include_usage", true);
        return b.toString();
    }

    /** A unique noise PNG per request index. */
    private String pngDataUrl(int seed) {
        BufferedImage img = new BufferedImage(imageSize, imageSize, BufferedImage.TYPE_INT_RGB);
        SplittableRandom r = new SplittableRandom(seed);
        for (int y = 0; y < imageSize; y++) {
            for (int x = 0; x < imageSize; x++) {
                img.setRGB(x, y, r.nextInt(1 << 24));
            }
        }
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            ImageIO.write(img, "png", bytes);
            return "data:image/png;base64," + Base64.getEncoder().encodeToString(bytes.toByteArray());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
