package dev.jepd.cli;

import dev.jepd.api.HttpServer;
import dev.jepd.api.Json;
import dev.jepd.proxy.bench.StubUpstreams;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd bench proxy}: the JEPD proxy against the seed's Python E+PD proxy on the same stub backends in
 * one run. The stubs answer at once (an encoder's one-token completion; a decode stream of fixed chunks), so
 * what is measured is the proxies' own cost: requests/s and latency added over calling the stub directly.
 */
@Command(
        name = "proxy",
        mixinStandardHelpOptions = true,
        description = "JEPD proxy vs the seed's Python proxy on stub backends: requests/s and added latency.")
public final class ProxyBenchCommand implements Callable<Integer> {
    @Option(names = "--requests", defaultValue = "400", description = "Requests per target (default ${DEFAULT-VALUE}).")
    int requests;

    @Option(
            names = "--concurrency",
            defaultValue = "16",
            description = "Requests in flight (default ${DEFAULT-VALUE}).")
    int concurrency;

    @Option(names = "--chunks", defaultValue = "32", description = "Content chunks per stub stream (default 32).")
    int chunks;

    @Option(names = "--seed-proxy", description = "Path of client_ec_disaggregated.py (default: ../shared/seeds/).")
    Path seedProxy;

    private final ChildProcesses children = new ChildProcesses();

    @Override
    public Integer call() throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        Path home = Path.of(System.getProperty("jepd.home", ".")).toAbsolutePath();
        String launcher =
                System.getProperty("jepd.launcher", home.resolve("bin/jepd").toString());
        Path logs = Files.createDirectories(home.resolve("target").resolve("bench-proxy"));
        Runtime.getRuntime().addShutdownHook(new Thread(this::stop));
        try (HttpServer encoder = StubUpstreams.encoder();
                HttpServer decode = StubUpstreams.decode(chunks)) {
            String e = "http://127.0.0.1:" + encoder.port();
            String d = "http://127.0.0.1:" + decode.port();
            int jepdPort = LocalCluster.freePort();
            Process jepdProcess = launch(
                    logs.resolve("jepd-proxy.log"),
                    launcher,
                    "proxy",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "" + jepdPort,
                    "--encode-servers-urls",
                    e,
                    "--decode-servers-urls",
                    d);
            String jepd = "http://127.0.0.1:" + jepdPort;
            Path seed = seedProxy != null
                    ? seedProxy
                    : home.resolve("../shared/seeds/client_ec_disaggregated.py").normalize();
            String python = null;
            Process seedProcess = null;
            if (Files.isRegularFile(seed)) {
                int seedPort = LocalCluster.freePort();
                seedProcess = launch(
                        logs.resolve("seed-proxy.log"),
                        "/usr/bin/python3",
                        seed.toString(),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "" + seedPort,
                        "--encode-servers-urls",
                        e,
                        "--decode-servers-urls",
                        d);
                python = "http://127.0.0.1:" + seedPort;
            }
            if (!ChildProcesses.awaitHealthy(jepd, Duration.ofSeconds(60), List.of(jepdProcess))) {
                throw new IllegalStateException(jepd + " did not become healthy");
            }
            if (python != null && !ChildProcesses.awaitHealthy(python, Duration.ofSeconds(60), List.of(seedProcess))) {
                System.err.println("bench proxy: the seed proxy did not start (see " + logs + "); measuring JEPD only");
                python = null;
            }
            String body = body();
            List<String[]> targets = new ArrayList<>();
            targets.add(new String[] {"stub decode directly (baseline)", d});
            targets.add(new String[] {"JEPD proxy (Java, Undertow)", jepd});
            if (python != null) {
                targets.add(new String[] {"seed proxy (Python, FastAPI/aiohttp)", python});
            }
            List<StreamLoad.Result> results = new ArrayList<>();
            for (String[] t : targets) {
                StreamLoad.run(
                        t[1] + "/v1/chat/completions", Math.min(50, requests), concurrency, i -> body); // warm-up
                results.add(StreamLoad.run(t[1] + "/v1/chat/completions", requests, concurrency, i -> body));
            }
            out.printf(
                    "jepd bench proxy: %d streaming requests per target at concurrency %d, one image item each,"
                            + " stub E answers at once, stub D streams %d chunks%n",
                    requests, concurrency, chunks);
            out.println("| target | ok/failed | req/s | E2E mean/p50/p99 ms | added p50 ms | TTFT p50 ms |");
            out.println("|---|---|---|---|---|---|");
            double base = results.getFirst().e2e()[1];
            for (int i = 0; i < targets.size(); i++) {
                StreamLoad.Result r = results.get(i);
                out.printf(
                        "| %s | %d/%d | %.1f | %.2f / %.2f / %.2f | %s | %.2f |%n",
                        targets.get(i)[0],
                        r.requests() - r.failed(),
                        r.failed(),
                        r.requestsPerSecond(),
                        r.e2e()[0],
                        r.e2e()[1],
                        r.e2e()[2],
                        i == 0 ? "—" : String.format("%.2f", r.e2e()[1] - base),
                        r.ttft()[1]);
            }
            if (python == null) {
                out.println("(the seed proxy was not measured: " + seed + " or Debian's python3-fastapi/aiohttp/uvicorn"
                        + "/uvloop missing)");
            }
            return 0;
        } finally {
            stop();
        }
    }

    private String body() {
        // A 1x1 PNG: the proxies forward the item to E; its size does not matter to the stubs.
        String png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYGAAAAAEAAH2FzhVAAAAAElFTkSuQmCC";
        var b = Json.MAPPER.createObjectNode();
        b.put("model", "stub");
        var content = b.putArray("messages").addObject().put("role", "user").putArray("content");
        content.addObject().put("type", "image_url").putObject("image_url").put("url", "data:image/png;base64," + png);
        content.addObject().put("type", "text").put("text", "hi");
        b.put("max_tokens", chunks);
        b.put("stream", true);
        return b.toString();
    }

    private Process launch(Path log, String... cmd) throws IOException {
        return children.start(log, List.of(cmd));
    }

    private void stop() {
        children.close();
    }
}
