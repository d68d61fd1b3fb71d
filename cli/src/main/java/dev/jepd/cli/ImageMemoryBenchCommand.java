package dev.jepd.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.Json;
import dev.jepd.models.tiny.TinyModels;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.zip.Deflater;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd bench image-memory}: how much memory one large image costs the vision tower, measured from outside
 * the process as an operator would. An encoder node (a real process, loopback only) gets a small image, then a
 * photo-like {@code side × side} image: its peak RSS ({@code VmHWM}) after the photo less its RSS before it is the
 * growth. {@code jepd generate} runs twice as a child process, with the small image and with the photo, and the
 * difference of their peaks is the growth there. A PNG of 13000 × 13000 zeros (164 KB on the wire, real pixel
 * data) must be refused or served, never a 5xx. Exits 1 when a growth passes {@code --limit-mb} or the zeros get a
 * 5xx (issues 9 and 14: a 1448² photo under 1.5 GB).
 *
 * <p>Before all that, {@code --burst} image requests at once through the proxy ({@link BurstMemory}): each node's
 * RSS once idle again against its idle RSS before the burst; exits 1 when the encoder's or the PD node's ratio
 * passes {@code --burst-max-ratio} (issue 14: within 20% of idle; the proxy's is reported only).
 */
@Command(
        name = "image-memory",
        mixinStandardHelpOptions = true,
        description =
                "RSS after a burst of images against idle RSS per node, and the peak RSS growth of one large image"
                        + " in an encoder node and in `jepd generate` (loopback only).")
public final class ImageMemoryBenchCommand implements Callable<Integer> {
    @Option(
            names = "--side",
            defaultValue = "1448",
            description = "Side of the square photo-like image (default ${DEFAULT-VALUE}: 2.1 MP).")
    int side;

    @Option(
            names = "--limit-mb",
            defaultValue = "1536",
            description = "Largest acceptable peak RSS growth in MiB (default ${DEFAULT-VALUE}).")
    long limitMb;

    @Option(
            names = "--burst",
            defaultValue = "64",
            description = "Image requests sent at once through the proxy after 4 warm-up requests; each node's RSS"
                    + " --burst-settle seconds later is compared with its idle RSS (default ${DEFAULT-VALUE}; 0"
                    + " skips).")
    int burst;

    @Option(
            names = "--burst-settle",
            defaultValue = "30",
            description = "Seconds of idle after the burst before RSS is read (default ${DEFAULT-VALUE}).")
    int burstSettle;

    @Option(
            names = "--burst-max-ratio",
            defaultValue = "1.2",
            description = "Largest acceptable RSS after the burst over idle RSS, per node: the encoder and the PD node;"
                    + " the proxy's is reported only (default ${DEFAULT-VALUE}).")
    double burstMaxRatio;

    @Option(
            names = "--photo",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "The large photo and the 13000² zero PNG at the encoder and the two `jepd generate` runs"
                    + " (default on; --no-photo runs the burst alone).")
    boolean photoChecks;

    @Option(names = "--json", description = "Also write the results as JSON here.")
    Path json;

    @Override
    public Integer call() throws Exception {
        side = Math.clamp(side, 28, 4096);
        Path home = Path.of(System.getProperty("jepd.home", ".")).toAbsolutePath();
        Path model = TinyModels.ensureGolden(home.resolve("target").resolve("tiny-qwen2.5-vl"));
        Path work = Files.createDirectories(home.resolve("target").resolve("bench-image-memory"));
        Path small = work.resolve("small-112x84.png");
        Path photo = work.resolve("photo-" + side + ".png");
        ImageIO.write(photoLike(112, 84), "png", small.toFile());
        ImageIO.write(photoLike(side, side), "png", photo.toFile());
        String zeros = zeroPngDataUrl(13_000, 13_000);

        ObjectNode report = Json.MAPPER.createObjectNode();
        report.put("side", side).put("limit_mb", limitMb).put("photo_bytes", Files.size(photo));
        List<String> broken = new ArrayList<>();
        try (LocalCluster cluster = LocalCluster.start(work.resolve("cluster"), model, List.of())) {
            Process encoder = cluster.processes().get(0);
            String url = cluster.encoderUrl();
            if (burst > 0) {
                // First, while the nodes have seen nothing but the warm-up: the idle baseline is theirs.
                Map<String, Process> nodes = new LinkedHashMap<>();
                nodes.put("encoder", encoder);
                nodes.put("pd", cluster.processes().get(1));
                nodes.put("proxy", cluster.processes().get(2));
                report.set(
                        "burst",
                        BurstMemory.run(
                                cluster.proxyUrl(),
                                nodes,
                                // The rule is the nodes' (issue 14); the proxy's figure is reported beside them.
                                Set.of("encoder", "pd"),
                                4,
                                Math.clamp(burst, 1, 1024),
                                Duration.ofSeconds(Math.clamp(burstSettle, 1, 600)),
                                burstMaxRatio,
                                broken));
            }
            if (!photoChecks) {
                return finish(report, broken);
            }
            post(url, dataUrl(small)); // one-time set-up belongs to the baseline
            // The burst's peak must not count as the photo's: VmHWM is reset (Linux: "5" to clear_refs).
            boolean hwmReset = resetPeak(encoder);
            if (!hwmReset && burst > 0) {
                System.out.println("encoder node : VmHWM could not be reset: the growth below includes the burst's"
                        + " peak (run with --burst 0 for the photo alone)");
            }
            long before = status(encoder, "VmRSS:");
            long t0 = System.nanoTime();
            int code = post(url, dataUrl(photo));
            double seconds = (System.nanoTime() - t0) / 1e9;
            long peak = status(encoder, "VmHWM:");
            long growthMb = (peak - before) / 1024;
            int zerosCode = post(url, zeros);
            report.putObject("encoder")
                    .put("status", code)
                    .put("seconds", seconds)
                    .put("rss_mb_before", before / 1024)
                    .put("peak_rss_mb", peak / 1024)
                    .put("growth_mb", growthMb)
                    .put("zeros_13000_status", zerosCode)
                    .put("hwm_reset", hwmReset);
            System.out.printf(
                    "encoder node : %d²: HTTP %d in %.1f s, RSS %d MB before, peak %d MB: growth %d MB%n",
                    side, code, seconds, before / 1024, peak / 1024, growthMb);
            System.out.printf(
                    "encoder node : 13000² zero PNG (%d KB): HTTP %d%n", zeros.length() * 3 / 4 / 1024, zerosCode);
            if (code != 200) {
                broken.add("encoder: the photo got HTTP " + code);
            }
            if (growthMb > limitMb) {
                broken.add("encoder: growth " + growthMb + " MB > " + limitMb + " MB");
            }
            if (zerosCode >= 500) {
                broken.add("encoder: the 13000² zero PNG got HTTP " + zerosCode);
            }
        }

        String launcher =
                System.getProperty("jepd.launcher", home.resolve("bin/jepd").toString());
        long[] smallRun = generatePeak(launcher, model, small, work.resolve("generate-small.log"));
        long[] photoRun = generatePeak(launcher, model, photo, work.resolve("generate-photo.log"));
        long growthMb = (photoRun[0] - smallRun[0]) / 1024;
        report.putObject("generate")
                .put("exit_small", smallRun[1])
                .put("exit_photo", photoRun[1])
                .put("peak_rss_mb_small", smallRun[0] / 1024)
                .put("peak_rss_mb_photo", photoRun[0] / 1024)
                .put("growth_mb", growthMb)
                .put("seconds_photo", photoRun[2] / 1e3);
        System.out.printf(
                "jepd generate: peak %d MB with 112x84, %d MB with %d² (%.1f s): growth %d MB%n",
                smallRun[0] / 1024, photoRun[0] / 1024, side, photoRun[2] / 1e3, growthMb);
        if (smallRun[1] != 0 || photoRun[1] != 0) {
            broken.add("generate exited " + smallRun[1] + " / " + photoRun[1] + " (logs in " + work + ")");
        }
        if (growthMb > limitMb) {
            broken.add("generate: growth " + growthMb + " MB > " + limitMb + " MB");
        }
        return finish(report, broken);
    }

    private int finish(ObjectNode report, List<String> broken) throws IOException {
        ArrayNode b = report.putArray("broken");
        broken.forEach(b::add);
        if (json != null) {
            Json.MAPPER.writerWithDefaultPrettyPrinter().writeValue(json.toFile(), report);
        }
        broken.forEach(m -> System.out.println("BROKEN: " + m));
        System.out.println(broken.isEmpty() ? "image-memory: all within limits" : "image-memory: limits broken");
        return broken.isEmpty() ? 0 : 1;
    }

    /**
     * Runs {@code jepd generate} on one image and follows its {@code VmHWM} until it exits: peak KiB, exit status
     * and milliseconds.
     */
    private static long[] generatePeak(String launcher, Path model, Path image, Path log) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(
                        launcher,
                        "generate",
                        "--model",
                        model.toString(),
                        "--image",
                        image.toString(),
                        "--prompt",
                        "Describe this image.",
                        "--max-tokens",
                        "2")
                .redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().put("JEPD_NO_BUILD", "1");
        long t0 = System.nanoTime();
        Process p = pb.start();
        long peak = 0;
        try {
            // The launcher execs the JVM, so the pid stays the same; the last reading before exit is the peak.
            while (!p.waitFor(20, TimeUnit.MILLISECONDS)) {
                peak = Math.max(peak, status(p, "VmHWM:"));
                if (System.nanoTime() - t0 > Duration.ofMinutes(10).toNanos()) {
                    p.destroyForcibly();
                    throw new IOException("jepd generate ran past 10 minutes; see " + log);
                }
            }
        } finally {
            p.destroyForcibly();
        }
        return new long[] {peak, p.exitValue(), (System.nanoTime() - t0) / 1_000_000};
    }

    /** One chat request with one image; the HTTP status (0 when the node could not be reached). */
    private static int post(String base, String imageUrl) throws InterruptedException {
        String body = "{\"model\":\"tiny\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":["
                + "{\"type\":\"image_url\",\"image_url\":{\"url\":\"" + imageUrl + "\"}},"
                + "{\"type\":\"text\",\"text\":\"Describe this image.\"}]}]}";
        try (HttpClient http =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
            return http.send(
                            HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                                    .timeout(Duration.ofMinutes(5))
                                    .header("Content-Type", "application/json")
                                    .POST(HttpRequest.BodyPublishers.ofString(body))
                                    .build(),
                            HttpResponse.BodyHandlers.discarding())
                    .statusCode();
        } catch (IOException e) {
            return 0;
        }
    }

    /** Resets a process's peak RSS ({@code VmHWM}) to its RSS now; false where that is not possible. */
    static boolean resetPeak(Process p) {
        try {
            Files.writeString(Path.of("/proc/" + p.pid() + "/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** A {@code /proc/<pid>/status} field in KiB (0 where /proc is absent or the process is gone). */
    static long status(Process p, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + p.pid() + "/status"))) {
                if (line.startsWith(field)) {
                    return Long.parseLong(
                            line.substring(field.length()).replace("kB", "").strip());
                }
            }
        } catch (IOException | RuntimeException gone) {
            // not Linux, or the process has exited
        }
        return 0;
    }

    private static String dataUrl(Path png) throws IOException {
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(Files.readAllBytes(png));
    }

    /** Smooth colour fields plus seeded noise: compresses like a photo, not like a flat test card. */
    static BufferedImage photoLike(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Random rng = new Random(7);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double u = (double) x / w;
                double v = (double) y / h;
                int r = clamp(128 + 100 * Math.sin(6 * u + 3 * v) + rng.nextGaussian() * 12);
                int g = clamp(128 + 90 * Math.cos(5 * v - 2 * u) + rng.nextGaussian() * 12);
                int b = clamp(128 + 80 * Math.sin(9 * u * v) + rng.nextGaussian() * 12);
                img.setRGB(x, y, (r << 16) | (g << 8) | b);
            }
        }
        return img;
    }

    private static int clamp(double c) {
        return (int) Math.clamp(Math.round(c), 0, 255);
    }

    /**
     * A real greyscale PNG of {@code w × h} zeros (every row deflated, not a header-only bomb): 13000² is 169
     * megapixels in about 164 KB. Written row by row, so making it holds one row.
     */
    static String zeroPngDataUrl(int w, int h) {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        png.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        byte[] ihdr = new byte[13];
        HostileCorpus.putInt(ihdr, 0, w);
        HostileCorpus.putInt(ihdr, 4, h);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 0; // greyscale
        HostileCorpus.chunk(png, "IHDR", ihdr);
        Deflater deflater = new Deflater(Deflater.BEST_COMPRESSION);
        ByteArrayOutputStream idat = new ByteArrayOutputStream();
        byte[] row = new byte[w + 1]; // filter byte 0, then w zero samples
        byte[] buf = new byte[1 << 16];
        for (int y = 0; y < h; y++) {
            deflater.setInput(row);
            while (!deflater.needsInput()) {
                idat.write(buf, 0, deflater.deflate(buf));
            }
        }
        deflater.finish();
        while (!deflater.finished()) {
            idat.write(buf, 0, deflater.deflate(buf));
        }
        deflater.end();
        HostileCorpus.chunk(png, "IDAT", idat.toByteArray());
        HostileCorpus.chunk(png, "IEND", new byte[0]);
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(png.toByteArray());
    }
}
