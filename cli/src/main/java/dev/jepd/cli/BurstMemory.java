package dev.jepd.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * RSS after a burst against RSS at idle, per node (docs/RELIABILITY.md, "Memory after a burst"; issue 14: within
 * 20% of idle). Through the proxy of a local E+PD cluster: {@code warmups} image requests one at a time, then
 * {@link #IDLE_WAIT} (the nodes' idle trims have run): the idle RSS; then {@code burst} image requests at once
 * (distinct 448² noise PNGs, 16 tokens each), every node's RSS sampled every 100 ms for the peak; then
 * {@code settle} of idle and the RSS again. RSS is split into anonymous memory (heap, malloc, libtorch's buffers)
 * and file-backed pages (the mapped weights, libraries) from {@code /proc/PID/status}.
 */
final class BurstMemory {
    static final int SIDE = 448;
    static final int MAX_TOKENS = 16;
    /** From the last warm-up answer to the idle reading: both idle trims ({@code IdleTrim.SECOND_PASS}) are over. */
    static final Duration IDLE_WAIT = Duration.ofSeconds(22);

    private BurstMemory() {}

    /** One RSS reading in KiB: total, anonymous, file-backed. */
    record Rss(long total, long anon, long file) {
        static Rss of(Process p) {
            long total = 0;
            long anon = 0;
            long file = 0;
            try {
                for (String line : Files.readAllLines(Path.of("/proc/" + p.pid() + "/status"))) {
                    if (line.startsWith("VmRSS:")) {
                        total = kib(line);
                    } else if (line.startsWith("RssAnon:")) {
                        anon = kib(line);
                    } else if (line.startsWith("RssFile:")) {
                        file = kib(line);
                    }
                }
            } catch (IOException | RuntimeException gone) {
                // not Linux, or the process has exited
            }
            return new Rss(total, anon, file);
        }

        private static long kib(String line) {
            return Long.parseLong(
                    line.substring(line.indexOf(':') + 1).replace("kB", "").strip());
        }

        String mb() {
            return total / 1024 + " MB (anon " + anon / 1024 + ", file " + file / 1024 + ")";
        }
    }

    /**
     * Runs the burst through {@code proxyUrl}; {@code nodes} maps a name to its process. A process named in
     * {@code ruled} whose RSS after the burst is over {@code maxRatio} × idle is added to {@code broken}; the others
     * are reported only.
     */
    static ObjectNode run(
            String proxyUrl,
            Map<String, Process> nodes,
            Set<String> ruled,
            int warmups,
            int burst,
            Duration settle,
            double maxRatio,
            List<String> broken)
            throws Exception {
        long seed = System.nanoTime(); // a former run's EC entries must not make these cache hits
        for (int i = 0; i < warmups; i++) {
            ChaosRuns.Answer a = ChaosRuns.post(proxyUrl, body(seed + i), Duration.ofMinutes(2));
            if (a.status() != 200) {
                broken.add("burst: warm-up request got HTTP " + a.status() + ": " + ChaosRuns.clip(a.text()));
            }
        }
        // Idle: the nodes' idle trims have run (2 s after the last request by default, and once more 15 s later).
        Thread.sleep(IDLE_WAIT.toMillis());
        Map<String, Rss> idle = new LinkedHashMap<>();
        Map<String, Long> peak = new LinkedHashMap<>();
        nodes.forEach((n, p) -> {
            idle.put(n, Rss.of(p));
            peak.put(n, 0L);
        });
        AtomicBoolean sampling = new AtomicBoolean(true);
        Thread sampler = Thread.ofPlatform().daemon().start(() -> {
            while (sampling.get()) {
                nodes.forEach((n, p) -> peak.merge(n, Rss.of(p).total(), Math::max));
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        List<String> bodies = new ArrayList<>();
        for (int i = 0; i < burst; i++) {
            bodies.add(body(seed + warmups + i));
        }
        long t0 = System.nanoTime();
        int ok = 0;
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<ChaosRuns.Answer>> answers = new ArrayList<>();
            for (String b : bodies) {
                answers.add(pool.submit(() -> ChaosRuns.post(proxyUrl, b, Duration.ofMinutes(5))));
            }
            for (Future<ChaosRuns.Answer> f : answers) {
                ChaosRuns.Answer a = f.get(6, TimeUnit.MINUTES);
                if (a.status() == 200) {
                    ok++;
                } else if (broken.stream().noneMatch(s -> s.startsWith("burst: HTTP"))) {
                    broken.add("burst: HTTP " + a.status() + ": " + ChaosRuns.clip(a.text()));
                }
            }
        }
        double burstSeconds = (System.nanoTime() - t0) / 1e9;
        Thread.sleep(settle.toMillis());
        sampling.set(false);
        sampler.join();
        ObjectNode out = Json.MAPPER
                .createObjectNode()
                .put("warmups", warmups)
                .put("burst", burst)
                .put("answered_200", ok)
                .put("image_side", SIDE)
                .put("max_tokens", MAX_TOKENS)
                .put("burst_seconds", Math.round(burstSeconds * 10) / 10.0)
                .put("settle_seconds", settle.toSeconds())
                .put("max_ratio", maxRatio);
        System.out.printf(
                "burst: %d warm-up, then %d image requests (%d², %d tokens) at once through the proxy: %d answered"
                        + " 200 in %.1f s; RSS %d s later:%n",
                warmups, burst, SIDE, MAX_TOKENS, ok, burstSeconds, settle.toSeconds());
        for (Map.Entry<String, Process> e : nodes.entrySet()) {
            String n = e.getKey();
            Rss before = idle.get(n);
            Rss after = Rss.of(e.getValue());
            double ratio = before.total() == 0 ? 0 : (double) after.total() / before.total();
            out.putObject(n)
                    .put("idle_rss_mb", before.total() / 1024)
                    .put("idle_anon_mb", before.anon() / 1024)
                    .put("idle_file_mb", before.file() / 1024)
                    .put("peak_rss_mb", peak.get(n) / 1024)
                    .put("after_rss_mb", after.total() / 1024)
                    .put("after_anon_mb", after.anon() / 1024)
                    .put("after_file_mb", after.file() / 1024)
                    .put("after_over_idle", Math.round(ratio * 100) / 100.0)
                    .put("ruled", ruled.contains(n));
            System.out.printf(
                    "%-8s idle %s, peak %d MB, after %s: after / idle %.2fx%s%n",
                    n, before.mb(), peak.get(n) / 1024, after.mb(), ratio, ruled.contains(n) ? "" : " (reported only)");
            if (!e.getValue().isAlive()) {
                broken.add("burst: " + n + " exited");
            } else if (ruled.contains(n) && ratio > maxRatio) {
                broken.add(String.format(
                        "burst: %s RSS after / idle %.2fx > %.2fx (%d -> %d MB)",
                        n, ratio, maxRatio, before.total() / 1024, after.total() / 1024));
            }
        }
        if (ok < burst) {
            broken.add("burst: " + (burst - ok) + " of " + burst + " requests not answered 200");
        }
        return out;
    }

    private static String body(long seed) {
        return "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                + "\"image_url\":{\"url\":\"" + ChaosRuns.noisePng(SIDE, SIDE, seed) + "\"}},{\"type\":\"text\","
                + "\"text\":\"Describe this image.\"}]}],\"max_tokens\":" + MAX_TOKENS + ",\"temperature\":0}";
    }
}
