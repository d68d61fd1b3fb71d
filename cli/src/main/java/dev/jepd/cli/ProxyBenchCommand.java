package dev.jepd.cli;

import dev.jepd.api.Json;
import dev.jepd.api.Sse;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd bench proxy}: in one run, on the same stub backends, nginx as a one-hop reverse proxy (the ceiling:
 * one plain hop to D), the seed's Python E+PD proxy and the JEPD proxy (both making the EPD request's two hops:
 * E, then D), for a JSON answer and a stream of 32 SSE chunks, at each concurrency: requests/s, p50/p99 latency
 * and the ratios. The load comes from {@code wrk}; the stubs are nginx answering fixed bodies at once (an
 * encoder's one-token completion, a decode node's completion or stream), so what is timed is the proxies. A
 * "direct" row calls the decode stub itself: the latency a proxy adds is its p50 minus that one.
 */
@Command(
        name = "proxy",
        mixinStandardHelpOptions = true,
        description = "nginx one-hop vs the seed's Python proxy vs JEPD on nginx stubs (wrk): req/s, p50/p99, ratios.")
public final class ProxyBenchCommand implements Callable<Integer> {
    @Option(
            names = "--concurrency",
            defaultValue = "1,32",
            split = ",",
            description = "Connections in flight, one run each (default ${DEFAULT-VALUE}).")
    int[] concurrency;

    @Option(names = "--duration", defaultValue = "10", description = "Seconds measured per cell (default 10).")
    int duration;

    @Option(names = "--warmup", defaultValue = "3", description = "Seconds of unmeasured load first (default 3).")
    int warmup;

    @Option(
            names = "--jit-warmup",
            defaultValue = "15",
            description = "Seconds of load on each proxy (JEPD, seed) once, before the first cell, so that no cell"
                    + " measures a JVM still compiling its paths (default ${DEFAULT-VALUE}; 0: none).")
    int jitWarmup;

    @Option(names = "--chunks", defaultValue = "32", description = "SSE chunks per stub stream (default 32).")
    int chunks;

    @Option(
            names = "--rounds",
            defaultValue = "1",
            description = "Rounds of every cell, targets alternating within each; medians are reported (default 1).")
    int rounds;

    @Option(names = "--targets", defaultValue = "direct,nginx,seed,jepd", split = ",", description = "Which to run.")
    List<String> targets;

    @Option(names = "--seed-proxy", description = "Path of client_ec_disaggregated.py (default: ../shared/seeds/).")
    Path seedProxy;

    private final ChildProcesses children = new ChildProcesses();

    private record Cell(double rps, double p50, double p99, long errors) {}

    @Override
    public Integer call() throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        Path home = Path.of(System.getProperty("jepd.home", ".")).toAbsolutePath();
        String launcher =
                System.getProperty("jepd.launcher", home.resolve("bin/jepd").toString());
        Path work = Files.createDirectories(home.resolve("target").resolve("bench-proxy"));
        String nginx = which("nginx", "/usr/sbin/nginx");
        String wrk = which("wrk", "/usr/bin/wrk");
        if (wrk == null) {
            System.err.println("bench proxy: wrk is not installed (apt-get install -y wrk); it is the load generator");
            return 2;
        }
        if (nginx == null) {
            System.err.println("bench proxy: nginx is not installed (apt-get install -y nginx): it serves the stubs"
                    + " and is the one-hop ceiling");
            return 2;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(children::close));
        try {
            int e = LocalCluster.freePort();
            int dJson = LocalCluster.freePort();
            int dSse = LocalCluster.freePort();
            startNginx(nginx, work.resolve("stubs"), stubConfig(e, dJson, dSse));
            Map<String, Map<String, String>> urls = new LinkedHashMap<>(); // workload → target → base URL
            urls.put("JSON", new LinkedHashMap<>());
            urls.put(chunks + " SSE chunks", new LinkedHashMap<>());
            String eUrl = "http://127.0.0.1:" + e;
            String[] dUrls = {"http://127.0.0.1:" + dJson, "http://127.0.0.1:" + dSse};
            int pJson = LocalCluster.freePort();
            int pSse = LocalCluster.freePort();
            startNginx(nginx, work.resolve("proxy"), proxyConfig(pJson, dJson, pSse, dSse));
            Path seed = seedProxy != null
                    ? seedProxy
                    : home.resolve("../shared/seeds/client_ec_disaggregated.py").normalize();
            int w = 0;
            for (var workload : urls.entrySet()) {
                String d = dUrls[w];
                workload.getValue().put("direct", d);
                workload.getValue().put("nginx", "http://127.0.0.1:" + (w == 0 ? pJson : pSse));
                if (targets.contains("seed") && Files.isRegularFile(seed)) {
                    int port = LocalCluster.freePort();
                    Process p = children.start(
                            work.resolve("seed-proxy-" + w + ".log"),
                            List.of(
                                    "/usr/bin/python3",
                                    seed.toString(),
                                    "--host",
                                    "127.0.0.1",
                                    "--port",
                                    "" + port,
                                    "--encode-servers-urls",
                                    eUrl,
                                    "--decode-servers-urls",
                                    d));
                    String url = "http://127.0.0.1:" + port;
                    if (ChildProcesses.awaitHealthy(url, Duration.ofSeconds(60), List.of(p))) {
                        workload.getValue().put("seed", url);
                    } else {
                        System.err.println(
                                "bench proxy: the seed proxy did not start (Debian's python3-fastapi/aiohttp/"
                                        + "uvicorn/uvloop missing?); see " + work);
                    }
                }
                int port = LocalCluster.freePort();
                Process p = children.start(
                        work.resolve("jepd-proxy-" + w + ".log"),
                        List.of(
                                launcher,
                                "proxy",
                                "--host",
                                "127.0.0.1",
                                "--port",
                                "" + port,
                                "--encode-servers-urls",
                                eUrl,
                                "--decode-servers-urls",
                                d,
                                // every request carries the same image: without this the proxy would reuse the
                                // first encoder call and make one hop where the seed makes two
                                "--dedup-window",
                                "0"));
                String url = "http://127.0.0.1:" + port;
                if (!ChildProcesses.awaitHealthy(url, Duration.ofSeconds(120), List.of(p))) {
                    throw new IllegalStateException("the JEPD proxy did not start; see " + work);
                }
                workload.getValue().put("jepd", url);
                workload.getValue().keySet().retainAll(targets);
                w++;
            }
            Path[] scripts = {script(work.resolve("json.lua"), false), script(work.resolve("sse.lua"), true)};
            out.printf(
                    "jepd bench proxy: wrk, %d s measured after %d s of warm-up per cell, %d round(s); stubs: nginx;"
                            + " one image item per request (JEPD and the seed call E, then D; nginx only D);"
                            + " %d s of JIT warm-up per proxy first%n",
                    duration, warmup, rounds, jitWarmup);
            // A JVM's first seconds of load run interpreted and C1 code (a fresh proxy took 0.7-0.9 ms of CPU per
            // request against 0.11-0.14 ms warm): compile the proxies' paths before any cell is measured.
            w = 0;
            for (var workload : urls.entrySet()) {
                for (String target : List.of("jepd", "seed")) {
                    if (jitWarmup > 0 && workload.getValue().containsKey(target)) {
                        wrk(
                                wrk,
                                workload.getValue().get(target) + "/v1/chat/completions",
                                scripts[w],
                                8,
                                jitWarmup,
                                work);
                    }
                }
                w++;
            }
            Map<String, List<Cell>> results = new LinkedHashMap<>();
            for (int round = 0; round < rounds; round++) {
                w = 0;
                for (var workload : urls.entrySet()) {
                    for (int c : concurrency) {
                        // Alternate the order between rounds so that drift in the machine's load spreads over all.
                        List<String> order = new ArrayList<>(workload.getValue().keySet());
                        if (round % 2 == 1) {
                            java.util.Collections.reverse(order);
                        }
                        for (String target : order) {
                            String url = workload.getValue().get(target) + "/v1/chat/completions";
                            wrk(wrk, url, scripts[w], c, warmup, work);
                            Cell cell = wrk(wrk, url, scripts[w], c, duration, work);
                            results.computeIfAbsent(workload.getKey() + "|" + c + "|" + target, k -> new ArrayList<>())
                                    .add(cell);
                        }
                    }
                    w++;
                }
            }
            out.println("| workload | c | target | req/s | p50 ms | p99 ms | errors | JEPD/seed | JEPD/nginx |");
            out.println("|---|---|---|---|---|---|---|---|---|");
            for (var workload : urls.entrySet()) {
                for (int c : concurrency) {
                    Map<String, Cell> row = new LinkedHashMap<>();
                    for (String target : workload.getValue().keySet()) {
                        row.put(target, median(results.get(workload.getKey() + "|" + c + "|" + target)));
                    }
                    Cell jepd = row.get("jepd");
                    for (var t : row.entrySet()) {
                        Cell r = t.getValue();
                        boolean isJepd = t.getKey().equals("jepd");
                        out.printf(
                                "| %s | %d | %s | %.0f | %.3f | %.3f | %d | %s | %s |%n",
                                workload.getKey(),
                                c,
                                t.getKey(),
                                r.rps,
                                r.p50,
                                r.p99,
                                r.errors,
                                isJepd && row.containsKey("seed")
                                        ? String.format("%.2f", jepd.rps / row.get("seed").rps)
                                        : "",
                                isJepd && row.containsKey("nginx")
                                        ? String.format("%.3f", jepd.rps / row.get("nginx").rps)
                                        : "");
                    }
                    if (jepd != null && row.containsKey("direct")) {
                        out.printf(
                                "| %s | %d | JEPD p50 added over direct | | %.3f | | | | |%n",
                                workload.getKey(), c, jepd.p50 - row.get("direct").p50);
                    }
                }
            }
            return 0;
        } finally {
            children.close();
        }
    }

    private static Cell median(List<Cell> cells) {
        double[] rps = cells.stream().mapToDouble(Cell::rps).sorted().toArray();
        double[] p50 = cells.stream().mapToDouble(Cell::p50).sorted().toArray();
        double[] p99 = cells.stream().mapToDouble(Cell::p99).sorted().toArray();
        long errors = cells.stream().mapToLong(Cell::errors).sum();
        return new Cell(rps[rps.length / 2], p50[p50.length / 2], p99[p99.length / 2], errors);
    }

    private Cell wrk(String wrk, String url, Path script, int c, int seconds, Path work) throws Exception {
        Path log = work.resolve("wrk.out");
        Process p = new ProcessBuilder(
                        wrk,
                        "-t" + Math.min(c, 2),
                        "-c" + c,
                        "-d" + seconds + "s",
                        "--timeout",
                        "10s",
                        "--latency",
                        "-s",
                        script.toString(),
                        url)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        if (!p.waitFor(seconds + 60L, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("wrk did not finish");
        }
        String text = Files.readString(log);
        double rps = number(text, "Requests/sec:\\s+([0-9.]+)");
        double p50 = millis(text, "50%");
        double p99 = millis(text, "99%");
        long errors = (long) number(text, "Non-2xx or 3xx responses:\\s+([0-9]+)");
        Matcher sock = Pattern.compile("Socket errors: connect (\\d+), read (\\d+), write (\\d+), timeout (\\d+)")
                .matcher(text);
        if (sock.find()) {
            for (int g = 1; g <= 4; g++) {
                errors += Long.parseLong(sock.group(g));
            }
        }
        return new Cell(rps, p50, p99, errors);
    }

    private static double number(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    private static double millis(String text, String percentile) {
        Matcher m = Pattern.compile("\\s" + Pattern.quote(percentile) + "\\s+([0-9.]+)(us|ms|s)")
                .matcher(text);
        if (!m.find()) {
            return Double.NaN;
        }
        double v = Double.parseDouble(m.group(1));
        return switch (m.group(2)) {
            case "us" -> v / 1000;
            case "ms" -> v;
            case "s" -> v * 1000;
            default -> throw new IllegalStateException(m.group(2));
        };
    }

    private Path script(Path file, boolean stream) throws IOException {
        // A 1x1 PNG: the proxies forward the item to E; its size does not matter to the stubs.
        String png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYGAAAAAEAAH2FzhVAAAAAElFTkSuQmCC";
        var b = Json.MAPPER.createObjectNode();
        b.put("model", "stub");
        var content = b.putArray("messages").addObject().put("role", "user").putArray("content");
        content.addObject().put("type", "image_url").putObject("image_url").put("url", "data:image/png;base64," + png);
        content.addObject().put("type", "text").put("text", "hi");
        b.put("max_tokens", chunks);
        b.put("stream", stream);
        Files.writeString(
                file,
                "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = [[" + b
                        + "]]\n");
        return file;
    }

    private String stubConfig(int e, int dJson, int dSse) {
        String eAnswer =
                "{\"id\":\"e\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"stub\",\"choices\":[{\"index\":0,"
                        + "\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":\"length\"}],\"usage\":"
                        + "{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}";
        String dAnswer = eAnswer.replace(
                "\"content\":\"\"", "\"content\":\"" + "tok ".repeat(chunks).strip() + "\"");
        StringBuilder sse = new StringBuilder();
        for (int i = 0; i < chunks; i++) {
            var c = Json.MAPPER.createObjectNode().put("id", "d").put("object", "chat.completion.chunk");
            var choice = c.putArray("choices").addObject().put("index", 0);
            var delta = choice.putObject("delta");
            if (i == 0) {
                delta.put("role", "assistant");
            }
            delta.put("content", "tok" + i + " ");
            if (i == chunks - 1) {
                choice.put("finish_reason", "length");
            } else {
                choice.putNull("finish_reason");
            }
            sse.append(new String(Sse.event(c), StandardCharsets.UTF_8));
        }
        sse.append(new String(Sse.DONE, StandardCharsets.UTF_8));
        return server(e, "application/json", eAnswer)
                + server(dJson, "application/json", dAnswer)
                + server(dSse, "text/event-stream", sse.toString());
    }

    private static String server(int port, String type, String body) {
        if (body.contains("'") || body.contains("$")) {
            throw new IllegalStateException("stub body must not contain ' or $");
        }
        return "  server { listen 127.0.0.1:" + port + "; location /health { return 200; }"
                + " location / { default_type " + type + "; return 200 '" + body + "'; } }\n";
    }

    private static String proxyConfig(int pJson, int dJson, int pSse, int dSse) {
        String common = "proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off;";
        return "  upstream dj { server 127.0.0.1:" + dJson + "; keepalive 64; }\n"
                + "  upstream ds { server 127.0.0.1:" + dSse + "; keepalive 64; }\n"
                + "  server { listen 127.0.0.1:" + pJson + "; location / { proxy_pass http://dj; " + common + " } }\n"
                + "  server { listen 127.0.0.1:" + pSse + "; location / { proxy_pass http://ds; " + common + " } }\n";
    }

    /** Starts an nginx of its own in {@code dir} (no root, no system config) serving {@code servers}. */
    private void startNginx(String nginx, Path dir, String servers) throws Exception {
        Files.createDirectories(dir.resolve("logs"));
        String conf = "worker_processes 1;\ndaemon off;\npid " + dir.resolve("nginx.pid") + ";\nerror_log "
                + dir.resolve("error.log") + ";\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n"
                + "  keepalive_requests 1000000;\n"
                + Arrays.stream(new String[] {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
                        .map(t -> "  " + t + "_temp_path " + dir.resolve(t) + ";\n")
                        .reduce("", String::concat)
                + servers + "}\n";
        Path file = dir.resolve("nginx.conf");
        Files.writeString(file, conf);
        Process p =
                children.start(dir.resolve("nginx.log"), List.of(nginx, "-c", file.toString(), "-p", dir.toString()));
        Thread.sleep(300);
        if (!p.isAlive()) {
            throw new IllegalStateException("nginx did not start: " + Files.readString(dir.resolve("nginx.log")));
        }
    }

    private static String which(String name, String fallback) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return Files.isExecutable(Path.of(fallback)) ? fallback : null;
    }
}
