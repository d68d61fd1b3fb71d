package dev.jepd.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.Json;
import dev.jepd.models.tiny.TinyModels;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd bench chaos}: a local E+PD cluster (real processes, loopback only): {@code --requests} greedy
 * requests at {@code --concurrency} through the proxy checked against their single-request answers, a 2 MP and a
 * 13000² image at the encoder, a seeded hostile corpus sent to each node and to the proxy, abandoned
 * non-streaming requests, slow connections, a soak sampling each JVM's RSS, threads and fds, SIGTERM with
 * requests in flight; then a 2e1p2d cluster whose encoder, prefill and decode nodes are killed under load
 * ({@link ChaosRuns}). Prints what came back and exits 1 when any rule is broken (docs/RELIABILITY.md). Bounded
 * by its flags: about 20 minutes with the defaults (the soak is 10), a few minutes with a short soak.
 */
@Command(
        name = "chaos",
        mixinStandardHelpOptions = true,
        description = "Hostile bodies, abandoned requests and slow clients against local nodes (loopback only).")
public final class ChaosBenchCommand implements Callable<Integer> {
    @Option(names = "--seed", defaultValue = "1", description = "Seed of the corpus (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--cases", defaultValue = "500", description = "Hostile requests per node (default 500, max 5000).")
    int cases;

    @Option(names = "--abandoned", defaultValue = "20", description = "Non-streaming requests given up (default 20).")
    int abandoned;

    @Option(
            names = "--slow",
            defaultValue = "500",
            description = "Slow sockets per node and at the proxy (default 500, max 1000).")
    int slow;

    @Option(
            names = "--requests",
            defaultValue = "2000",
            description = "Requests through the proxy checked against their single-request answers (default"
                    + " ${DEFAULT-VALUE}; 0 skips).")
    int requests;

    @Option(
            names = "--concurrency",
            defaultValue = "64",
            description = "Concurrency of those requests (default ${DEFAULT-VALUE}).")
    int concurrency;

    @Option(
            names = "--kill",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "kill -9 an encoder, the prefill node and a decode node of a 2e1p2d cluster under load"
                    + " (default on; --no-kill skips).")
    boolean kill;

    @Option(
            names = "--kill-phase",
            defaultValue = "15",
            description = "Seconds of load before each kill and after the last (default ${DEFAULT-VALUE}).")
    int killPhase;

    @Option(
            names = "--soak-minutes",
            defaultValue = "10",
            description = "Minutes of steady load (c=8) sampling every JVM's RSS, threads and fds every 5 s"
                    + " (default ${DEFAULT-VALUE}; 0 skips).")
    double soakMinutes;

    @Option(
            names = "--sigterm",
            defaultValue = "8",
            description = "Requests in flight when the PD node gets SIGTERM at the end (default ${DEFAULT-VALUE};"
                    + " 0 skips).")
    int sigterm;

    @Option(
            names = "--large-images",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "A 2 MP image and a 13000x13000 zero PNG at the encoder (default on).")
    boolean largeImages;

    @Option(names = "--json", description = "Also write the results as JSON here.")
    Path json;

    @Override
    public Integer call() throws Exception {
        cases = Math.clamp(cases, 1, 5000);
        slow = Math.clamp(slow, 0, 1000);
        requests = Math.clamp(requests, 0, 100_000);
        concurrency = Math.clamp(concurrency, 1, 256);
        abandoned = Math.clamp(abandoned, 0, 200);
        Path home = Path.of(System.getProperty("jepd.home", ".")).toAbsolutePath();
        Path model = TinyModels.ensureGolden(home.resolve("target").resolve("tiny-qwen2.5-vl"));
        ObjectNode report = Json.MAPPER.createObjectNode();
        report.put("seed", seed).put("cases_per_node", cases);
        List<String> broken = new ArrayList<>();
        try (LocalCluster cluster = LocalCluster.start(
                home.resolve("target").resolve("bench-chaos"), model, List.of("--max-model-len", "16384"))) {
            Map<String, String> nodes = new LinkedHashMap<>();
            nodes.put("encoder", cluster.encoderUrl());
            nodes.put("pd", cluster.pdUrl());
            nodes.put("proxy", cluster.proxyUrl());
            Map<String, Process> procs = new LinkedHashMap<>();
            procs.put("encoder", cluster.processes().get(0));
            procs.put("pd", cluster.processes().get(1));
            procs.put("proxy", cluster.processes().get(2));
            if (requests > 0) {
                report.set("correctness", ChaosRuns.correctness(cluster.proxyUrl(), requests, concurrency, broken));
            }
            if (largeImages) {
                report.set("large_images", ChaosRuns.largeImages(cluster.encoderUrl(), procs.get("encoder"), broken));
            }
            // The baseline once the requests above are over and the nodes have given their memory back.
            Thread.sleep(5000);
            Map<String, long[]> before = new LinkedHashMap<>();
            for (String n : nodes.keySet()) {
                before.put(n, resources(procs.get(n)));
            }
            List<HostileCorpus.Case> corpus = HostileCorpus.generate(seed, cases, "tiny");
            ArrayNode perNode = report.putArray("nodes");
            for (Map.Entry<String, String> node : nodes.entrySet()) {
                perNode.add(runCorpus(node.getKey(), node.getValue(), corpus, broken));
            }
            report.set("abandoned", abandon(cluster.pdUrl(), broken));
            ArrayNode slowReport = report.putArray("slow_connections");
            for (Map.Entry<String, String> node : nodes.entrySet()) {
                slowReport.add(slowClients(node.getKey(), node.getValue(), broken));
            }
            // Worker threads above the core ones end after 10 s idle; give them (and their selectors) 30 s.
            long settleEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < settleEnd
                    && nodes.keySet().stream().anyMatch(n -> resources(procs.get(n))[0] > before.get(n)[0] * 1.2 + 4)) {
                Thread.sleep(500);
            }
            ArrayNode res = report.putArray("resources");
            for (String n : nodes.keySet()) {
                long[] b = before.get(n);
                long[] a = resources(procs.get(n));
                if (a[0] > b[0] * 1.2 + 4) {
                    broken.add(n + ": threads " + b[0] + " -> " + a[0] + " 30 s after the run");
                }
                res.addObject()
                        .put("node", n)
                        .put("alive", procs.get(n).isAlive())
                        .put("threads_before", b[0])
                        .put("threads_after", a[0])
                        .put("fds_before", b[1])
                        .put("fds_after", a[1])
                        .put("rss_mb_before", b[2] / 1024)
                        .put("rss_mb_after", a[2] / 1024);
                System.out.printf(
                        "%-8s alive=%s, before -> after (settled): threads %d -> %d, fds %d -> %d, RSS %d -> %d MB%n",
                        n, procs.get(n).isAlive(), b[0], a[0], b[1], a[1], b[2] / 1024, a[2] / 1024);
                if (!procs.get(n).isAlive()) {
                    broken.add(n + " died");
                }
            }
            if (soakMinutes > 0) {
                report.set(
                        "soak",
                        ChaosRuns.soak(cluster.proxyUrl(), procs, soakMinutes, 8, Duration.ofSeconds(5), broken));
            }
            if (sigterm > 0) {
                report.set("sigterm", ChaosRuns.sigterm(cluster.pdUrl(), procs.get("pd"), sigterm, broken));
            }
        }
        if (kill) {
            report.set(
                    "kill",
                    ChaosRuns.kills(
                            home.resolve("target").resolve("bench-chaos-kill"),
                            model,
                            16,
                            Duration.ofSeconds(killPhase),
                            broken));
        }
        report.putPOJO("broken", broken);
        if (json != null) {
            Files.writeString(json, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        }
        System.out.println(broken.isEmpty() ? "chaos: every rule held" : "chaos: BROKEN: " + broken);
        return broken.isEmpty() ? 0 : 1;
    }

    private ObjectNode runCorpus(String name, String url, List<HostileCorpus.Case> corpus, List<String> broken)
            throws Exception {
        URI u = URI.create(url);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<Future<HostileCorpus.Outcome>> futures = new ArrayList<>();
        long start = System.nanoTime();
        for (HostileCorpus.Case c : corpus) {
            futures.add(pool.submit(() -> HostileCorpus.send(u.getHost(), u.getPort(), c)));
        }
        Map<Integer, Integer> statuses = new TreeMap<>();
        long slowest = 0;
        int violations = 0;
        for (Future<HostileCorpus.Outcome> f : futures) {
            HostileCorpus.Outcome o = f.get(120, TimeUnit.SECONDS);
            statuses.merge(o.status(), 1, Integer::sum);
            slowest = Math.max(slowest, o.millis());
            String why = o.violation();
            if (why != null) {
                violations++;
                if (violations <= 20) {
                    broken.add(name + ": " + o.c().what() + ": " + why);
                }
            }
        }
        pool.shutdown();
        long seconds = (System.nanoTime() - start) / 1_000_000_000L;
        System.out.printf(
                "%-8s %d hostile requests in %d s: statuses %s, slowest %d ms, violations %d%n",
                name, corpus.size(), seconds, statuses, slowest, violations);
        ObjectNode out = Json.MAPPER
                .createObjectNode()
                .put("node", name)
                .put("requests", corpus.size())
                .put("seconds", seconds)
                .put("slowest_ms", slowest)
                .put("violations", violations);
        statuses.forEach((s, n) -> out.with("statuses").put(String.valueOf(s), n));
        return out;
    }

    /** Sends non-streaming requests that would run to the context, gives up on them, and reads the running count. */
    private ObjectNode abandon(String pdUrl, List<String> broken) throws Exception {
        URI u = URI.create(pdUrl);
        String body = "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a long story\"}],"
                + "\"ignore_eos\":true}";
        List<Socket> sockets = new ArrayList<>();
        for (int i = 0; i < abandoned; i++) {
            Socket s = new Socket(u.getHost(), u.getPort());
            s.getOutputStream()
                    .write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                    + "Content-Length: " + body.length() + "\r\n\r\n" + body)
                            .getBytes(StandardCharsets.US_ASCII));
            sockets.add(s);
        }
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        double running;
        while ((running = LocalCluster.metric(pdUrl, "vllm:num_requests_running")) < abandoned
                && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        for (Socket s : sockets) {
            s.close();
        }
        Thread.sleep(1000);
        double after = LocalCluster.metric(pdUrl, "vllm:num_requests_running")
                + LocalCluster.metric(pdUrl, "vllm:num_requests_waiting");
        System.out.printf(
                "abandoned: %d non-streaming requests (%.0f running when the clients left), %.0f running or waiting"
                        + " 1 s later%n",
                abandoned, running, after);
        if (after > 0) {
            broken.add("abandoned: " + after + " still running 1 s after their clients left");
        }
        return Json.MAPPER
                .createObjectNode()
                .put("requests", abandoned)
                .put("running_when_left", running)
                .put("running_or_waiting_1s_later", after);
    }

    /** Opens sockets that send half a request head and then nothing; counts those the node closes in 45 s. */
    private ObjectNode slowClients(String name, String url, List<String> broken) throws Exception {
        URI u = URI.create(url);
        List<Socket> sockets = new ArrayList<>();
        for (int i = 0; i < slow; i++) {
            Socket s = new Socket(u.getHost(), u.getPort());
            s.setSoTimeout(1000);
            OutputStream out = s.getOutputStream();
            out.write((i % 2 == 0
                            ? "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                            : "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":")
                    .getBytes(StandardCharsets.US_ASCII));
            sockets.add(s);
        }
        long start = System.nanoTime();
        int closed = 0;
        boolean[] done = new boolean[sockets.size()];
        while (closed < sockets.size() && System.nanoTime() - start < TimeUnit.SECONDS.toNanos(45)) {
            for (int i = 0; i < sockets.size(); i++) {
                if (done[i]) {
                    continue;
                }
                try {
                    // Whatever the node sent first (a 408 for a body that never came) is read away: only the
                    // end of the stream counts.
                    sockets.get(i).setSoTimeout(1);
                    byte[] buf = new byte[4096];
                    int n;
                    while ((n = sockets.get(i).getInputStream().read(buf)) > 0) {
                        // discard
                    }
                    if (n < 0) {
                        done[i] = true;
                        closed++;
                    }
                } catch (java.net.SocketTimeoutException e) {
                    // still open
                } catch (IOException e) {
                    done[i] = true;
                    closed++;
                }
            }
            Thread.sleep(200);
        }
        long seconds = (System.nanoTime() - start) / 1_000_000_000L;
        for (Socket s : sockets) {
            s.close();
        }
        System.out.printf(
                "%-8s %d slow connections (half heads, short bodies): %d closed by the node within %d s%n",
                name, sockets.size(), closed, seconds);
        if (closed < sockets.size()) {
            broken.add(name + ": " + (sockets.size() - closed) + " slow connections still open after 45 s");
        }
        return Json.MAPPER
                .createObjectNode()
                .put("node", name)
                .put("connections", sockets.size())
                .put("closed", closed)
                .put("seconds", seconds);
    }

    /** Threads, open fds and RSS (KiB) of a child JVM, from /proc (zeros where /proc is absent). */
    static long[] resources(Process p) {
        long pid = p.pid();
        long threads = 0;
        long rss = 0;
        long fds = 0;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("Threads:")) {
                    threads = Long.parseLong(line.substring(8).strip());
                } else if (line.startsWith("VmRSS:")) {
                    rss = Long.parseLong(line.substring(6).replace("kB", "").strip());
                }
            }
            try (var s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
                fds = s.count();
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or the process is gone
        }
        return new long[] {threads, fds, rss};
    }
}
