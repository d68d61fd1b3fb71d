package dev.jepd.cli;

import dev.jepd.models.tiny.TinyModels;
import dev.jepd.models.tiny.TinyQwen2VlWriter;
import dev.jepd.models.tiny.TinyQwen3VlWriter;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd demo}: a whole disaggregated cluster on the built-in tiny model. Proxy, encoder nodes and either PD
 * nodes ({@code --topology 1e1pd}, the default) or prefill and decode nodes ({@code 1e1p1d}, {@code 2e2p2d}) start
 * as separate processes on free loopback ports with a shared EC directory; one image request goes through the
 * proxy with the OpenAI SDK; the streamed answer, TTFT, the EC outcome and (E+P+D) the KV transfer are printed.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description = "Start proxy + encoder + PD (or prefill + decode) nodes on the built-in tiny model, send an"
                + " image request through the proxy with the OpenAI SDK, print the answer and its timings; keep"
                + " serving until Ctrl-C.")
public final class DemoCommand implements Callable<Integer> {
    @Option(
            names = "--topology",
            defaultValue = "1e1pd",
            description = "Nodes to start: <n>e<n>pd (E+PD) or <n>e<n>p<n>d (E+P+D), e.g. 1e1pd (default),"
                    + " 1e1p1d, 2e2p2d.")
    String topology;

    @Option(
            names = "--model-family",
            defaultValue = "qwen2.5-vl",
            description = "The built-in tiny model to serve: qwen2.5-vl (default), qwen2-vl or qwen3-vl.")
    String family;

    @Option(names = "--once", description = "Exit (stopping the nodes) after the request.")
    boolean once;

    @Option(names = "--max-tokens", defaultValue = "16", description = "Tokens to generate (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--work-dir", description = "Model, EC and logs go here (default: <jepd home>/target/demo).")
    Path workDir;

    @Override
    public Integer call() throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        Path home = Path.of(System.getProperty("jepd.home", ".")).toAbsolutePath();
        Path dir = workDir != null ? workDir : home.resolve("target").resolve("demo");
        Path model =
                switch (family) {
                    case "qwen2.5-vl" ->
                        TinyModels.ensureGolden(home.resolve("target").resolve("tiny-qwen2.5-vl"));
                    case "qwen2-vl" ->
                        TinyQwen2VlWriter.ensure(home.resolve("target").resolve("tiny-qwen2-vl"));
                    case "qwen3-vl" ->
                        TinyQwen3VlWriter.ensure(home.resolve("target").resolve("tiny-qwen3-vl"));
                    default ->
                        throw new picocli.CommandLine.ParameterException(
                                new picocli.CommandLine(this),
                                "--model-family must be qwen2.5-vl, qwen2-vl or qwen3-vl, not " + family);
                };
        out.println("model : " + model + " (tiny random-weight " + family + ": the answer is gibberish by design)");
        out.println("logs  : " + dir.resolve("logs"));
        long t0 = System.nanoTime();
        LocalCluster.Topology topo = LocalCluster.Topology.parse(topology);
        LocalCluster cluster = LocalCluster.start(dir, model, List.of(), topo);
        String proxy = cluster.proxyUrl();
        Path ec = cluster.ec();
        List<String> lm = new java.util.ArrayList<>(cluster.prefillUrls());
        lm.addAll(cluster.decodeUrls());
        out.printf(
                "nodes : %s — encoder %s, %sproxy %s — up in %.1f s%n",
                topo,
                String.join(" ", cluster.encoderUrls()),
                topo.disaggregatedPrefill()
                        ? "prefill " + String.join(" ", cluster.prefillUrls()) + ", decode "
                                + String.join(" ", cluster.decodeUrls()) + ", "
                        : "PD " + String.join(" ", cluster.decodeUrls()) + ", ",
                proxy,
                (System.nanoTime() - t0) / 1e9);

        byte[] png;
        try (InputStream in = DemoCommand.class.getResourceAsStream("/dev/jepd/demo/demo.png")) {
            png = in.readAllBytes();
        }
        double hitsBefore = sum(lm, "jepd:ec_hits_total");
        double kvBefore = sum(cluster.decodeUrls(), "jepd:kv_remote_prefill_tokens_total");
        DemoClient client = new DemoClient(proxy, png, maxTokens);
        // The SDK's first call loads its HTTP and JSON stacks; keep that out of the timings.
        client.warmUp();
        out.println("ask   : [112x84 PNG] Describe this image.");
        out.print("answer: ");
        DemoClient.Run first = client.ask(out);
        out.println();
        boolean hit = sum(lm, "jepd:ec_hits_total") > hitsBefore;
        out.println("timing: " + first.describe()
                + (topo.disaggregatedPrefill()
                        ? "  (first request: encoder run + EC write, prefill, KV pull, then decode)"
                        : "  (first request: encoder run + EC write, then PD prefill)"));
        out.println("EC    : "
                + (hit
                        ? "hit — the language-model nodes injected the encoder node's embeddings from " + ec
                        : "miss — the language-model node encoded the image itself"));
        if (topo.disaggregatedPrefill()) {
            double kv = sum(cluster.decodeUrls(), "jepd:kv_remote_prefill_tokens_total") - kvBefore;
            out.printf(
                    "KV    : the decode node loaded %.0f prompt tokens' KV from the prefill node over JEPD's side"
                            + " channel and computed only the last prompt token itself%n",
                    kv);
        }
        DemoClient.Run again = client.ask(null);
        out.println("repeat: " + again.describe() + "  (same image: EC hit, no encoder recompute)");
        if (once) {
            cluster.close();
            return 0;
        }
        out.println("serving: " + proxy + "/v1/chat/completions (OpenAI API) — Ctrl-C stops all nodes");
        Thread.currentThread().join();
        return 0;
    }

    private static double sum(List<String> urls, String metric) throws Exception {
        double total = 0;
        for (String u : urls) {
            total += LocalCluster.metric(u, metric);
        }
        return total;
    }
}
