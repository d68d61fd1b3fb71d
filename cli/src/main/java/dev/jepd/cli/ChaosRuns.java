package dev.jepd.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.Json;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.Deflater;
import javax.imageio.ImageIO;

/**
 * The runs of {@code jepd bench chaos} that need the cluster working as a whole: many requests at once checked
 * against their single-request answers, nodes killed under load, SIGTERM with requests in flight, a soak, and
 * the large-image checks. Each adds what it saw to a JSON object and a line to {@code broken} per rule broken.
 */
final class ChaosRuns {
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .executor(Executors.newVirtualThreadPerTaskExecutor())
            .build();

    private ChaosRuns() {}

    /** The distinct greedy requests: four images and two text prompts. */
    static List<String> distinctBodies() {
        List<String> bodies = new ArrayList<>();
        int[][] sizes = {{112, 84}, {96, 96}, {140, 100}, {64, 64}}; // each under 100 KB as PNG
        String[] prompts = {"Describe this image.", "What colour is it?", "Count the shapes.", "One word."};
        for (int i = 0; i < sizes.length; i++) {
            bodies.add(chat(
                    "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + noisePng(sizes[i][0], sizes[i][1], i)
                            + "\"}},{\"type\":\"text\",\"text\":\"" + prompts[i] + "\"}]",
                    8));
        }
        bodies.add(chat("\"Tell me a story about a fox.\"", 8));
        bodies.add(chat("\"Write a haiku about the sea, please.\"", 8));
        return bodies;
    }

    private static String chat(String content, int maxTokens) {
        return "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":" + content + "}],\"max_tokens\":"
                + maxTokens + ",\"temperature\":0}";
    }

    /** A seeded noise PNG as a data URL. */
    static String noisePng(int w, int h, long seed) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Random rnd = new Random(seed);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, rnd.nextInt(1 << 24));
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(img, "png", out);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(out.toByteArray());
    }

    /** Status and the answer's text with its finish reason ("" when not 200). */
    record Answer(int status, String text) {}

    static Answer post(String url, String body, Duration timeout) {
        try {
            HttpResponse<String> r = HTTP.send(
                    HttpRequest.newBuilder(URI.create(url + "/v1/chat/completions"))
                            .timeout(timeout)
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(body))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                return new Answer(r.statusCode(), r.body());
            }
            JsonNode c = Json.MAPPER.readTree(r.body()).path("choices").path(0);
            return new Answer(200, c.path("message").path("content").asText() + "|" + c.path("finish_reason"));
        } catch (IOException e) {
            return new Answer(-1, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Answer(-1, "interrupted");
        }
    }

    /**
     * {@code requests} requests at {@code concurrency}, drawn round-robin from the distinct bodies, each answer
     * compared with that body's single-request answer (asked first, one at a time).
     */
    static ObjectNode correctness(String proxyUrl, int requests, int concurrency, List<String> broken)
            throws Exception {
        List<String> bodies = distinctBodies();
        List<String> expected = new ArrayList<>();
        for (String b : bodies) {
            Answer a = post(proxyUrl, b, Duration.ofSeconds(120));
            if (a.status() != 200) {
                broken.add("correctness: the single request failed: " + a.status() + " " + clip(a.text()));
                return Json.MAPPER.createObjectNode().put("error", "single request failed");
            }
            expected.add(a.text());
        }
        AtomicInteger lost = new AtomicInteger();
        AtomicInteger mixed = new AtomicInteger();
        List<String> examples = java.util.Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        long started = System.nanoTime();
        List<Future<?>> all = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            int k = i % bodies.size();
            all.add(pool.submit(() -> {
                Answer a = post(proxyUrl, bodies.get(k), Duration.ofSeconds(300));
                if (a.status() != 200) {
                    lost.incrementAndGet();
                    if (examples.size() < 5) {
                        examples.add("lost: " + a.status() + " " + clip(a.text()));
                    }
                } else if (!a.text().equals(expected.get(k))) {
                    mixed.incrementAndGet();
                    if (examples.size() < 5) {
                        examples.add("differs: " + clip(a.text()) + " vs " + clip(expected.get(k)));
                    }
                }
            }));
        }
        for (Future<?> f : all) {
            f.get(30, TimeUnit.MINUTES);
        }
        pool.shutdown();
        double seconds = (System.nanoTime() - started) / 1e9;
        System.out.printf(
                "correctness: %d requests (%d distinct, greedy) at c=%d through the proxy in %.0f s: %d lost, %d"
                        + " differ from their single-request answer%n",
                requests, bodies.size(), concurrency, seconds, lost.get(), mixed.get());
        if (lost.get() + mixed.get() > 0) {
            broken.add("correctness: " + lost + " lost, " + mixed + " mixed up: " + examples);
        }
        ObjectNode out = Json.MAPPER
                .createObjectNode()
                .put("requests", requests)
                .put("distinct", bodies.size())
                .put("concurrency", concurrency)
                .put("seconds", Math.round(seconds))
                .put("lost", lost.get())
                .put("mixed_up", mixed.get());
        out.putPOJO("examples", examples);
        return out;
    }

    /**
     * An E+P+D cluster with 2 encoders, 1 prefill and 2 decode nodes under load through the proxy ({@code
     * concurrency} clients sending distinct greedy requests): an encoder, the prefill node and a decode node
     * killed with SIGKILL in turn, {@code phase} apart; counts the requests that failed.
     */
    static ObjectNode kills(Path workDir, Path model, int concurrency, Duration phase, List<String> broken)
            throws Exception {
        try (LocalCluster cluster = LocalCluster.start(
                workDir, model, List.of("--max-model-len", "16384"), new LocalCluster.Topology(2, 1, 2))) {
            List<Process> procs = cluster.processes(); // e0, e1, p0, d0, d1, proxy
            List<String> bodies = distinctBodies();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger ok = new AtomicInteger();
            AtomicInteger failed = new AtomicInteger();
            List<String> examples = java.util.Collections.synchronizedList(new ArrayList<>());
            ExecutorService pool = Executors.newFixedThreadPool(concurrency);
            for (int c = 0; c < concurrency; c++) {
                int client = c;
                pool.submit(() -> {
                    for (int i = client; !stop.get(); i += concurrency) {
                        Answer a = post(cluster.proxyUrl(), bodies.get(i % bodies.size()), Duration.ofSeconds(120));
                        if (a.status() == 200) {
                            ok.incrementAndGet();
                        } else {
                            failed.incrementAndGet();
                            if (examples.size() < 5) {
                                examples.add(a.status() + " " + clip(a.text()));
                            }
                        }
                    }
                });
            }
            Map<String, Process> victims = new LinkedHashMap<>();
            victims.put("encoder 0", procs.get(0));
            victims.put("prefill", procs.get(2));
            victims.put("decode 0", procs.get(3));
            ArrayNode steps = Json.MAPPER.createArrayNode();
            for (Map.Entry<String, Process> v : victims.entrySet()) {
                Thread.sleep(phase.toMillis());
                int before = ok.get() + failed.get();
                v.getValue().destroyForcibly();
                v.getValue().waitFor(10, TimeUnit.SECONDS);
                System.out.printf(
                        "kill -9: %s after %d requests (%d failed so far)%n", v.getKey(), before, failed.get());
                steps.addObject().put("killed", v.getKey()).put("after_requests", before);
            }
            Thread.sleep(phase.toMillis());
            stop.set(true);
            pool.shutdown();
            pool.awaitTermination(3, TimeUnit.MINUTES);
            System.out.printf(
                    "kill -9 under load (2e1p2d, c=%d): %d answered, %d failed; survivors alive: %s%n",
                    concurrency, ok.get(), failed.get(), aliveOf(procs, 1, 4, 5));
            if (failed.get() > 0) {
                broken.add("kill -9: " + failed + " requests failed: " + examples);
            }
            ObjectNode out = Json.MAPPER
                    .createObjectNode()
                    .put("topology", "2e1p2d")
                    .put("concurrency", concurrency)
                    .put("answered", ok.get())
                    .put("failed", failed.get());
            out.set("kills", steps);
            out.putPOJO("examples", examples);
            return out;
        }
    }

    private static String aliveOf(List<Process> procs, int... idx) {
        return Arrays.stream(idx)
                .mapToObj(i -> String.valueOf(procs.get(i).isAlive()))
                .reduce((a, b) -> a + "/" + b)
                .orElse("");
    }

    /**
     * SIGTERM to the PD node with {@code n} long requests running: each must complete (200, all its tokens)
     * and the process exit 0.
     */
    static ObjectNode sigterm(String pdUrl, Process pd, int n, List<String> broken) throws Exception {
        String body = "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"a long story\"}],"
                + "\"max_tokens\":1500,\"ignore_eos\":true,\"temperature\":0}";
        ExecutorService pool = Executors.newFixedThreadPool(n);
        List<Future<Answer>> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            all.add(pool.submit(() -> post(pdUrl, body, Duration.ofSeconds(600))));
        }
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        double running;
        while ((running = LocalCluster.metric(pdUrl, "vllm:num_requests_running")) < n && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        pd.destroy(); // SIGTERM
        int complete = 0;
        for (Future<Answer> f : all) {
            Answer a = f.get(10, TimeUnit.MINUTES);
            if (a.status() == 200 && a.text().endsWith("|\"length\"")) {
                complete++;
            }
        }
        pool.shutdown();
        boolean exited = pd.waitFor(60, TimeUnit.SECONDS);
        int code = exited ? pd.exitValue() : -1;
        System.out.printf(
                "SIGTERM with %d in flight (%.0f running when sent): %d completed all 1,500 tokens, exit status %d%n",
                n, running, complete, code);
        if (complete != n || code != 0) {
            broken.add("sigterm: " + complete + " of " + n + " completed, exit status " + code);
        }
        return Json.MAPPER
                .createObjectNode()
                .put("in_flight", n)
                .put("running_when_sent", running)
                .put("completed", complete)
                .put("exit_status", code);
    }

    /**
     * {@code minutes} of steady load through the proxy ({@code concurrency} clients, the distinct requests),
     * sampling every JVM's RSS, threads and fds every {@code every}; after the first fifth (warm-up) each sample
     * must stay within ±20% of the median of the samples after warm-up (threads and fds: ±20% + 4).
     */
    static ObjectNode soak(
            String proxyUrl,
            Map<String, Process> procs,
            double minutes,
            int concurrency,
            Duration every,
            List<String> broken)
            throws Exception {
        List<String> bodies = distinctBodies();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger ok = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        for (int c = 0; c < concurrency; c++) {
            int client = c;
            pool.submit(() -> {
                for (int i = client; !stop.get(); i += concurrency) {
                    if (post(proxyUrl, bodies.get(i % bodies.size()), Duration.ofSeconds(120))
                                    .status()
                            == 200) {
                        ok.incrementAndGet();
                    } else {
                        failed.incrementAndGet();
                    }
                }
            });
        }
        Map<String, List<long[]>> samples = new LinkedHashMap<>();
        procs.keySet().forEach(k -> samples.put(k, new ArrayList<>()));
        long end = System.nanoTime() + (long) (minutes * 60e9);
        while (System.nanoTime() < end) {
            for (Map.Entry<String, Process> p : procs.entrySet()) {
                samples.get(p.getKey()).add(ChaosBenchCommand.resources(p.getValue()));
            }
            Thread.sleep(every.toMillis());
        }
        stop.set(true);
        pool.shutdown();
        pool.awaitTermination(3, TimeUnit.MINUTES);
        ObjectNode out = Json.MAPPER
                .createObjectNode()
                .put("minutes", minutes)
                .put("concurrency", concurrency)
                .put("answered", ok.get())
                .put("failed", failed.get());
        ArrayNode nodes = out.putArray("nodes");
        System.out.printf(
                "soak: %.1f min at c=%d through the proxy: %d answered, %d failed%n",
                minutes, concurrency, ok.get(), failed.get());
        if (failed.get() > 0) {
            broken.add("soak: " + failed + " requests failed");
        }
        String[] what = {"threads", "fds", "rss_mb"};
        for (Map.Entry<String, List<long[]>> e : samples.entrySet()) {
            List<long[]> s = e.getValue();
            List<long[]> steady = s.subList(s.size() / 5, s.size());
            ObjectNode n = nodes.addObject().put("node", e.getKey()).put("samples", s.size());
            StringBuilder line = new StringBuilder();
            for (int k = 0; k < 3; k++) {
                int kk = k;
                long[] v = steady.stream().mapToLong(x -> k2(x, kk)).sorted().toArray();
                if (v.length == 0) {
                    continue;
                }
                long median = v[v.length / 2];
                long lo = v[0];
                long hi = v[v.length - 1];
                long slack = k == 2 ? 0 : 4;
                boolean flat = hi <= median * 1.2 + slack && lo >= median * 0.8 - slack;
                n.put(what[k] + "_first", k2(s.getFirst(), k))
                        .put(what[k] + "_median", median)
                        .put(what[k] + "_min", lo)
                        .put(what[k] + "_max", hi)
                        .put(what[k] + "_flat", flat);
                line.append(String.format(
                        " %s %d (warm-up start %d) median %d, %d..%d%s;",
                        what[k], median, k2(s.getFirst(), k), median, lo, hi, flat ? "" : " NOT FLAT"));
                if (!flat) {
                    broken.add("soak: " + e.getKey() + " " + what[k] + " " + lo + ".." + hi + " around " + median);
                }
            }
            System.out.printf("soak %-8s%s%n", e.getKey(), line);
        }
        return out;
    }

    private static long k2(long[] sample, int k) {
        return k == 2 ? sample[2] / 1024 : sample[k];
    }

    /**
     * The large-image checks on the encoder: a 2 MP (1448²) noise PNG, its peak RSS growth sampled, and a real
     * 13000² PNG of zeros (about 0.5 MB compressed), which must be refused or served without a 5xx.
     */
    static ObjectNode largeImages(String encoderUrl, Process encoder, List<String> broken) throws Exception {
        ObjectNode out = Json.MAPPER.createObjectNode();
        long base = ChaosBenchCommand.resources(encoder)[2];
        AtomicBoolean done = new AtomicBoolean();
        long[] peak = {base};
        Thread sampler = Thread.ofPlatform().daemon().start(() -> {
            while (!done.get()) {
                peak[0] = Math.max(peak[0], ChaosBenchCommand.resources(encoder)[2]);
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        // A new image each run: the encoder does not encode an image whose EC entry a former run left.
        String image = noisePng(1448, 1448, System.nanoTime());
        long t0 = System.nanoTime();
        Answer big = post(
                encoderUrl,
                chat("[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + image + "\"}}]", 1),
                Duration.ofSeconds(600));
        double seconds = (System.nanoTime() - t0) / 1e9;
        done.set(true);
        sampler.join();
        long growthMb = (peak[0] - base) / 1024;
        System.out.printf(
                "2 MP image (1448x1448) at the encoder: %d in %.1f s, peak RSS growth %d MB (target < 1,536)%n",
                big.status(), seconds, growthMb);
        out.putObject("image_2mp")
                .put("status", big.status())
                .put("seconds", Math.round(seconds * 10) / 10.0)
                .put("peak_rss_growth_mb", growthMb);
        if (big.status() != 200) {
            broken.add("2 MP image: " + big.status() + " " + clip(big.text()));
        } else if (growthMb >= 1536) {
            broken.add("2 MP image: peak RSS growth " + growthMb + " MB (vision attention: the backend issue)");
        }
        t0 = System.nanoTime();
        Answer zeros = post(
                encoderUrl,
                chat("[{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + zeroPng(13_000, 13_000) + "\"}}]", 1),
                Duration.ofSeconds(600));
        seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf(
                "13000x13000 PNG of zeros at the encoder: %d in %.1f s (%s)%n",
                zeros.status(), seconds, clip(zeros.text()));
        out.putObject("png_13000_zeros").put("status", zeros.status()).put("seconds", Math.round(seconds * 10) / 10.0);
        if (zeros.status() >= 500 || zeros.status() < 0) {
            broken.add("13000x13000 zero PNG: " + zeros.status() + " " + clip(zeros.text()));
        }
        return out;
    }

    /** A real RGB PNG of {@code w x h} black pixels (compressed in rows, never whole in memory). */
    static String zeroPng(int w, int h) {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        png.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        byte[] ihdr = new byte[13];
        putInt(ihdr, 0, w);
        putInt(ihdr, 4, h);
        ihdr[8] = 8;
        ihdr[9] = 2;
        chunk(png, "IHDR", ihdr);
        Deflater d = new Deflater(9);
        ByteArrayOutputStream idat = new ByteArrayOutputStream();
        byte[] row = new byte[1 + 3 * w];
        byte[] buf = new byte[1 << 16];
        for (int y = 0; y < h; y++) {
            d.setInput(row);
            while (!d.needsInput()) {
                int n = d.deflate(buf);
                idat.write(buf, 0, n);
            }
        }
        d.finish();
        while (!d.finished()) {
            int n = d.deflate(buf);
            idat.write(buf, 0, n);
        }
        d.end();
        chunk(png, "IDAT", idat.toByteArray());
        chunk(png, "IEND", new byte[0]);
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(png.toByteArray());
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] len = new byte[4];
        putInt(len, 0, data.length);
        out.writeBytes(len);
        byte[] t = type.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        out.writeBytes(t);
        out.writeBytes(data);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(t);
        crc.update(data);
        byte[] c = new byte[4];
        putInt(c, 0, (int) crc.getValue());
        out.writeBytes(c);
    }

    private static void putInt(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    static String clip(String s) {
        return s == null ? "" : s.length() > 160 ? s.substring(0, 160) + "…" : s;
    }
}
