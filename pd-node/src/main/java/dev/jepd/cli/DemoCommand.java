package dev.jepd.cli;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import dev.jepd.models.tiny.TinyModels;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd demo}: the whole E+PD cluster on the built-in tiny model. Proxy, one encoder node and one PD
 * node start as separate processes on free loopback ports with a shared EC directory; one image request goes
 * through the proxy with the OpenAI SDK; the streamed answer, TTFT and the EC outcome are printed.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description = "Start proxy + encoder + PD on the built-in tiny model, send an image request through the proxy"
                + " with the OpenAI SDK, print the answer and its timings; keep serving until Ctrl-C.")
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--once", description = "Exit (stopping the nodes) after the request.")
    boolean once;

    @Option(names = "--max-tokens", defaultValue = "16", description = "Tokens to generate (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--work-dir", description = "Model, EC and logs go here (default: <jepd home>/target/demo).")
    Path workDir;

    private final List<Process> children = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        Path home = Path.of(System.getProperty("jepd.home", ".")).toAbsolutePath();
        String launcher =
                System.getProperty("jepd.launcher", home.resolve("bin/jepd").toString());
        Path dir = workDir != null ? workDir : home.resolve("target").resolve("demo");
        Path model = TinyModels.ensureGolden(home.resolve("target").resolve("tiny-qwen2.5-vl"));
        Path ec = Files.createDirectories(dir.resolve("ec"));
        Path logs = Files.createDirectories(dir.resolve("logs"));
        Runtime.getRuntime().addShutdownHook(new Thread(this::stopChildren));

        int ePort = freePort();
        int pdPort = freePort();
        int proxyPort = freePort();
        String cfg = "{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"%s\","
                + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"" + ec + "\"}}";
        out.println("model : " + model + " (tiny random-weight Qwen2.5-VL: the answer is gibberish by design)");
        out.println("logs  : " + logs);
        long t0 = System.nanoTime();
        start(
                launcher,
                logs.resolve("encoder.log"),
                "serve",
                model.toString(),
                "--host",
                "127.0.0.1",
                "--port",
                "" + ePort,
                "--served-model-name",
                "tiny",
                "--ec-transfer-config",
                cfg.formatted("ec_producer"));
        start(
                launcher,
                logs.resolve("pd.log"),
                "serve",
                model.toString(),
                "--host",
                "127.0.0.1",
                "--port",
                "" + pdPort,
                "--served-model-name",
                "tiny",
                "--ec-transfer-config",
                cfg.formatted("ec_consumer"));
        start(
                launcher,
                logs.resolve("proxy.log"),
                "proxy",
                "--host",
                "127.0.0.1",
                "--port",
                "" + proxyPort,
                "--encode-servers-urls",
                "http://127.0.0.1:" + ePort,
                "--decode-servers-urls",
                "http://127.0.0.1:" + pdPort);
        String proxy = "http://127.0.0.1:" + proxyPort;
        String pd = "http://127.0.0.1:" + pdPort;
        for (String url : List.of("http://127.0.0.1:" + ePort, pd, proxy)) {
            awaitHealthy(url, logs);
        }
        out.printf(
                "nodes : encoder :%d, PD :%d, proxy :%d — up in %.1f s%n",
                ePort, pdPort, proxyPort, (System.nanoTime() - t0) / 1e9);

        byte[] png;
        try (InputStream in = DemoCommand.class.getResourceAsStream("/dev/jepd/demo/demo.png")) {
            png = in.readAllBytes();
        }
        double hitsBefore = metric(pd, "jepd:ec_hits_total");
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl(proxy + "/v1")
                .apiKey("demo")
                .build();
        var params = ChatCompletionCreateParams.builder()
                .model("tiny")
                .addUserMessageOfArrayOfContentParts(List.of(
                        ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage.builder()
                                .imageUrl(ChatCompletionContentPartImage.ImageUrl.builder()
                                        .url("data:image/png;base64,"
                                                + Base64.getEncoder().encodeToString(png))
                                        .build())
                                .build()),
                        ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder()
                                .text("Describe this image.")
                                .build())))
                .maxCompletionTokens(maxTokens)
                .temperature(0.0)
                .streamOptions(
                        ChatCompletionStreamOptions.builder().includeUsage(true).build())
                .build();
        // The SDK's first call loads its HTTP and JSON stacks; keep that out of the timings.
        client.models().list();
        out.println("ask   : [112x84 PNG] Describe this image.");
        out.print("answer: ");
        Run first = ask(client, params, out);
        out.println();
        boolean hit = metric(pd, "jepd:ec_hits_total") > hitsBefore;
        out.println("timing: " + first.describe() + "  (first request: encoder run + EC write, then PD prefill)");
        out.println("EC    : "
                + (hit
                        ? "hit — the PD node injected the encoder node's embeddings from " + ec
                        : "miss — the PD node encoded the image itself"));
        Run again = ask(client, params, null);
        out.println("repeat: " + again.describe() + "  (same image: EC hit, no encoder recompute)");
        if (once) {
            stopChildren();
            return 0;
        }
        out.println("serving: " + proxy + "/v1/chat/completions (OpenAI API) — Ctrl-C stops all nodes");
        Thread.currentThread().join();
        return 0;
    }

    /** One streamed request's timings, measured at the client. */
    private record Run(long sent, long first, long done, long tokens) {
        String describe() {
            double decode = tokens > 1 ? (tokens - 1) / ((done - first) / 1e9) : 0.0;
            return String.format(
                    "TTFT %.1f ms | %d tokens in %.1f ms | %.1f tok/s decode",
                    (first - sent) / 1e6, tokens, (done - sent) / 1e6, decode);
        }
    }

    private static Run ask(OpenAIClient client, ChatCompletionCreateParams params, PrintStream echo) {
        long sent = System.nanoTime();
        long[] first = {0};
        long[] tokens = {0};
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(params)) {
            s.stream().forEach(ch -> {
                ch.choices().forEach(c -> c.delta().content().ifPresent(text -> {
                    if (first[0] == 0 && !text.isEmpty()) {
                        first[0] = System.nanoTime();
                    }
                    if (echo != null) {
                        echo.print(text);
                    }
                }));
                ch.usage().ifPresent(u -> tokens[0] = u.completionTokens());
            });
        }
        return new Run(sent, first[0], System.nanoTime(), tokens[0]);
    }

    private void start(String launcher, Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(launcher));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        // This JVM was started by the launcher after its build check: the nodes need not check again.
        pb.environment().put("JEPD_NO_BUILD", "1");
        children.add(pb.start());
    }

    private void awaitHealthy(String url, Path logs) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (System.nanoTime() < deadline) {
            for (Process p : children) {
                if (!p.isAlive()) {
                    throw new IllegalStateException("a node exited during start-up; see the logs in " + logs);
                }
            }
            try {
                var r = http.send(
                        HttpRequest.newBuilder(URI.create(url + "/health"))
                                .timeout(Duration.ofSeconds(2))
                                .build(),
                        HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not up yet
            }
            Thread.sleep(250);
        }
        throw new IllegalStateException(url + " did not become healthy within 180 s; see the logs in " + logs);
    }

    private static double metric(String base, String name) throws Exception {
        String text = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString())
                .body();
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*})? ([0-9.eE+-]+)$")
                .matcher(text);
        return m.find() ? Double.parseDouble(m.group(2)) : 0;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private synchronized void stopChildren() {
        for (Process p : children) {
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
        }
        for (Process p : children) {
            try {
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        children.clear();
    }
}
