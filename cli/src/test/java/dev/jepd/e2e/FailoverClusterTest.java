package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The proxy's failover with real processes, killed with SIGKILL under load: an encoder of two (E+PD), the prefill
 * node (E+P+D), a decode node mid-stream; a node removed and re-added through {@code /instances}; and 16
 * concurrent requests with one new image making one encoder call. Answers through the proxy must equal the
 * single-node answers. {@code -Djepd.failover.requests=200} runs the acceptance size (default 64, to keep
 * the suite short on two cores).
 */
class FailoverClusterTest {
    static final int REQUESTS = Integer.getInteger("jepd.failover.requests", 64);
    static final int CONCURRENCY = 16;
    static SharedCluster shared;
    /**
     * Distinct images (so that every encoder call encodes) and each one's answer from the undisturbed E+PD cluster.
     * That is the reference rather than a PD node encoding alone: the EC holds BF16 embeddings, and on random
     * images the tiny random model can flip a token between the two (the golden images agree on both paths).
     */
    static final List<String> IMAGES = new ArrayList<>();

    static final Map<String, String> EXPECTED = new HashMap<>();

    @BeforeAll
    static void start() throws Exception {
        shared = SharedCluster.get();
        OpenAIClient direct = sdk(shared.proxy());
        for (int i = 0; i < 6; i++) {
            String url = pngDataUrl(new Random(1000 + i), 56 + 28 * (i % 2), 56);
            IMAGES.add(url);
            EXPECTED.put(url, answer(direct, params(url, 6)));
        }
    }

    static OpenAIClient sdk(NodeProcess through) {
        return OpenAIOkHttpClient.builder()
                .baseUrl(through.url() + "/v1")
                .apiKey("unused")
                .maxRetries(0) // a failed request must count as failed, not be retried by the client
                .timeout(Duration.ofSeconds(120))
                .build();
    }

    static String pngDataUrl(Random random, int width, int height) throws Exception {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                img.setRGB(x, y, random.nextInt(1 << 24));
            }
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(img, "png", png);
        return "data:image/png;base64," + Base64.getEncoder().encodeToString(png.toByteArray());
    }

    static ChatCompletionCreateParams params(String imageUrl, int maxTokens) {
        return ChatCompletionCreateParams.builder()
                .model("tiny")
                .addUserMessageOfArrayOfContentParts(List.of(
                        ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage.builder()
                                .imageUrl(ChatCompletionContentPartImage.ImageUrl.builder()
                                        .url(imageUrl)
                                        .build())
                                .build()),
                        ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder()
                                .text("What is this?")
                                .build())))
                .maxCompletionTokens(maxTokens)
                .temperature(0.0)
                .build();
    }

    static String answer(OpenAIClient client, ChatCompletionCreateParams p) {
        return client.chat()
                .completions()
                .create(p)
                .choices()
                .getFirst()
                .message()
                .content()
                .orElseThrow();
    }

    static NodeProcess proxy(String name, String... flags) throws Exception {
        List<String> args = new ArrayList<>(List.of(
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--health-interval",
                "0.5",
                "--connect-timeout",
                "2",
                "--upstream-timeout",
                "60"));
        args.addAll(List.of(flags));
        return NodeProcess.start(name, "dev.jepd.proxy.ProxyMain", args);
    }

    static NodeProcess encoder(String name) throws Exception {
        return NodeProcess.serve(
                name,
                shared.model(),
                "--served-model-name",
                "tiny",
                "--ec-transfer-config",
                SharedCluster.ecConfig("ec_producer", shared.ec()));
    }

    /**
     * {@link #REQUESTS} requests at concurrency {@link #CONCURRENCY} through {@code proxy}; {@code midway} runs once
     * a third of them have finished. Returns the failures (exceptions or answers that differ from a single node's).
     */
    static List<String> load(NodeProcess proxy, ThrowingRunnable midway) throws Exception {
        OpenAIClient client = sdk(proxy);
        AtomicInteger done = new AtomicInteger();
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        ExecutorService pool = Executors.newFixedThreadPool(CONCURRENCY);
        List<Future<?>> futures = new ArrayList<>();
        try {
            for (int i = 0; i < REQUESTS; i++) {
                String image = IMAGES.get(i % IMAGES.size());
                futures.add(pool.submit(() -> {
                    try {
                        String got = answer(client, params(image, 6));
                        if (!got.equals(EXPECTED.get(image))) {
                            failures.add("answer differs: '" + got + "' vs '" + EXPECTED.get(image) + "'");
                        }
                    } catch (RuntimeException e) {
                        failures.add(e.toString());
                    } finally {
                        done.incrementAndGet();
                    }
                }));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (done.get() < REQUESTS / 3 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            midway.run();
            for (Future<?> f : futures) {
                f.get(180, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        return List.copyOf(failures);
    }

    @FunctionalInterface
    interface ThrowingRunnable {
        void run() throws Exception;
    }

    @Test
    void anEncoderKilledUnderLoadCostsNoRequest() throws Exception {
        NodeProcess e1 = encoder("fo-encoder-1");
        NodeProcess e2 = encoder("fo-encoder-2");
        NodeProcess proxy = proxy(
                "fo-proxy-e",
                "--encode-servers-urls",
                e1.url() + "," + e2.url(),
                "--decode-servers-urls",
                shared.pd().url(),
                "--dedup-window",
                "0");
        try {
            double before = Http.metric(e2.url(), "vllm:request_success_total");
            List<String> failures = load(proxy, e1::kill);
            assertEquals(List.of(), failures, failures.size() + " of " + REQUESTS + " failed");
            assertTrue(Http.metric(e2.url(), "vllm:request_success_total") > before, "the survivor encoded");
            Http.Response health = Http.get(proxy.url() + "/health");
            assertEquals("degraded", health.json().path("encode_cluster").asText(), health.body());
        } finally {
            NodeProcess.closeAll(proxy, e2, e1);
        }
    }

    @Test
    void thePrefillNodeKilledUnderLoadCostsNoRequest() throws Exception {
        NodeProcess p = PrefillDecodeTest.pdNode(
                "fo-prefill",
                PrefillDecodeTest.kvConfig("kv_producer", "\"lease_seconds\":60"),
                shared.model(),
                shared.ec());
        NodeProcess d = PrefillDecodeTest.pdNode(
                "fo-decode",
                PrefillDecodeTest.kvConfig("kv_consumer", "\"transfer_timeout_seconds\":10"),
                shared.model(),
                shared.ec());
        NodeProcess proxy = proxy(
                "fo-proxy-p",
                "--encode-servers-urls",
                shared.encoder().url(),
                "--prefill-servers-urls",
                p.url(),
                "--decode-servers-urls",
                d.url());
        try {
            List<String> failures = load(proxy, p::kill);
            assertEquals(List.of(), failures, failures.size() + " of " + REQUESTS + " failed");
        } finally {
            NodeProcess.closeAll(proxy, d, p);
        }
    }

    @Test
    void aDecodeNodeKilledMidStreamEndsTheStreamWithAnErrorEventAndDone() throws Exception {
        NodeProcess d = NodeProcess.serve(
                "fo-stream-pd", shared.model(), "--served-model-name", "tiny", "--max-model-len", "4096");
        NodeProcess proxy = proxy("fo-proxy-d", "--decode-servers-urls", d.url());
        try {
            ObjectNode body = Requests.chat("tiny", null, "Count forever.", 3000, true);
            body.put("ignore_eos", true);
            HttpClient http =
                    HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            HttpResponse<InputStream> r = http.send(
                    HttpRequest.newBuilder(URI.create(proxy.url() + "/v1/chat/completions"))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(body.toString()))
                            .build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, r.statusCode());
            long t0;
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            try (InputStream in = r.body()) {
                byte[] buf = new byte[8192];
                int n = in.read(buf);
                assertTrue(n > 0, "the stream started");
                all.write(buf, 0, n);
                d.kill(); // SIGKILL while it streams
                t0 = System.nanoTime();
                while ((n = in.read(buf)) > 0) {
                    all.write(buf, 0, n);
                }
            }
            long millis = (System.nanoTime() - t0) / 1_000_000;
            String text = all.toString(StandardCharsets.UTF_8);
            String[] events = text.strip().split("\n\n");
            assertEquals("data: [DONE]", events[events.length - 1], text.substring(Math.max(0, text.length() - 400)));
            assertTrue(events[events.length - 2].contains("\"error\""), events[events.length - 2]);
            assertTrue(millis < 30_000, "ended in " + millis + " ms, not a hang");
        } finally {
            NodeProcess.closeAll(proxy, d);
        }
    }

    @Test
    void aDecodeNodeRemovedAndReaddedThroughInstancesUnderLoadCostsNoRequest() throws Exception {
        NodeProcess d2 = NodeProcess.serve(
                "fo-pd-2",
                shared.model(),
                "--served-model-name",
                "tiny",
                "--ec-transfer-config",
                SharedCluster.ecConfig("ec_consumer", shared.ec()));
        NodeProcess proxy = proxy(
                "fo-proxy-i",
                "--encode-servers-urls",
                shared.encoder().url(),
                "--decode-servers-urls",
                shared.pd().url() + "," + d2.url());
        try {
            String instance = "{\"type\":\"decode\",\"url\":\"" + d2.url() + "\"}";
            List<String> failures = load(proxy, () -> {
                HttpResponse<String> removed = HttpClient.newHttpClient()
                        .send(
                                HttpRequest.newBuilder(URI.create(proxy.url() + "/instances"))
                                        .method("DELETE", HttpRequest.BodyPublishers.ofString(instance))
                                        .build(),
                                HttpResponse.BodyHandlers.ofString());
                assertEquals(200, removed.statusCode(), removed.body());
                Thread.sleep(300);
                assertEquals(
                        200, Http.post(proxy.url() + "/instances", instance).status());
            });
            assertEquals(List.of(), failures, failures.size() + " of " + REQUESTS + " failed");
            assertEquals(
                    2,
                    Http.get(proxy.url() + "/instances").json().path("decode").size());
        } finally {
            NodeProcess.closeAll(proxy, d2);
        }
    }

    @Test
    void sixteenConcurrentRequestsWithOneNewImageMakeOneEncoderCall() throws Exception {
        String image = pngDataUrl(new Random(System.nanoTime()), 84, 56);
        OpenAIClient client = sdk(shared.proxy());
        double before = Http.metric(shared.encoder().url(), "vllm:request_success_total");
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<String>> answers = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                answers.add(pool.submit(() -> answer(client, params(image, 2))));
            }
            String first = answers.getFirst().get(120, TimeUnit.SECONDS);
            for (Future<String> a : answers) {
                assertEquals(first, a.get(120, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1.0, Http.metric(shared.encoder().url(), "vllm:request_success_total") - before);
    }
}
