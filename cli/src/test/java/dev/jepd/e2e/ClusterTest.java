package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
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
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** proxy → encoder → PD, all real processes on loopback, clients through the proxy only. */
class ClusterTest {
    static final Path GOLDEN = SharedCluster.GOLDEN;
    static NodeProcess encoder;
    static NodeProcess pd;
    static NodeProcess proxy;

    @BeforeAll
    static void start() throws Exception {
        SharedCluster c = SharedCluster.get();
        encoder = c.encoder();
        pd = c.pd();
        proxy = c.proxy();
    }

    static OpenAIClient sdk() {
        return OpenAIOkHttpClient.builder()
                .baseUrl(proxy.url() + "/v1")
                .apiKey("unused")
                .build();
    }

    static String dataUrl(String name) throws Exception {
        return "data:image/png;base64,"
                + Base64.getEncoder().encodeToString(Files.readAllBytes(GOLDEN.resolve("images/" + name + ".png")));
    }

    @Test
    void throughTheProxyTheAnswerIsTheSingleNodeAnswerAndRepeatsHitTheCache() throws Exception {
        for (String name : List.of("img_112x84", "img_100x61")) {
            var params = EpdNodesTest.sdkParams(EpdNodesTest.image(name));
            String whole = EpdNodesTest.answer(sdk(), params);
            assertEquals(EpdNodesTest.golden(name), whole);
            StringBuilder streamed = new StringBuilder();
            try (StreamResponse<ChatCompletionChunk> s =
                    sdk().chat().completions().createStreaming(params)) {
                s.stream().forEach(ch -> ch.choices()
                        .forEach(c -> c.delta().content().ifPresent(streamed::append)));
            }
            assertEquals(EpdNodesTest.golden(name), streamed.toString());
        }
        double encoded = Http.metric(encoder.url(), "jepd:encoded_images_total");
        double hits = Http.metric(pd.url(), "jepd:ec_hits_total");
        double misses = Http.metric(pd.url(), "jepd:ec_misses_total");
        sdk().chat().completions().create(EpdNodesTest.sdkParams(EpdNodesTest.image("img_112x84")));
        assertEquals(encoded, Http.metric(encoder.url(), "jepd:encoded_images_total"), "no recompute on the encoder");
        assertEquals(hits + 1, Http.metric(pd.url(), "jepd:ec_hits_total"), "EC hit on the PD node");
        assertEquals(misses, Http.metric(pd.url(), "jepd:ec_misses_total"));
        Http.Response health = Http.get(proxy.url() + "/health");
        assertEquals(200, health.status(), health.body());
        assertEquals("healthy", health.json().path("encode_cluster").asText());
        assertEquals(
                "tiny",
                Http.get(proxy.url() + "/v1/models").json().at("/data/0/id").asText());
    }

    @Test
    void sixtyFourConcurrentStreamsCompleteUnmixed() throws Exception {
        Map<String, String> prompts = new LinkedHashMap<>();
        prompts.put("img:img_112x84", EpdNodesTest.golden("img_112x84"));
        prompts.put("img:img_100x61", EpdNodesTest.golden("img_100x61"));
        for (String t : List.of("Hello there!", "Tell me a story about a cat.", "1 2 3 4 5")) {
            // Text references come from the same cluster one at a time (greedy, so deterministic).
            prompts.put(
                    "txt:" + t,
                    streamText(Requests.chat("tiny", null, t, 16, true).toString())
                            .join());
        }
        List<String> keys = new ArrayList<>(prompts.keySet());
        List<CompletableFuture<String>> results = new ArrayList<>();
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            String k = keys.get(i % keys.size());
            String url = k.startsWith("img:") ? dataUrl(k.substring(4)) : null;
            String text = k.startsWith("img:") ? "Describe this image." : k.substring(4);
            results.add(streamText(Requests.chat("tiny", url, text, 16, true).toString()));
            expected.add(prompts.get(k));
        }
        for (int i = 0; i < 64; i++) {
            assertEquals(expected.get(i), results.get(i).join(), "request " + i);
        }
        double peak = Http.metric(pd.url(), "jepd:peak_num_requests_running");
        assertTrue(peak > 1, "requests ran together: peak " + peak);
    }

    static final HttpClient CLIENT =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    /** POSTs a streaming request through the proxy and returns the concatenated content deltas. */
    static CompletableFuture<String> streamText(String body) {
        HttpRequest req = HttpRequest.newBuilder(URI.create(proxy.url() + "/v1/chat/completions"))
                .timeout(Duration.ofMinutes(5))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        return CLIENT.sendAsync(req, HttpResponse.BodyHandlers.ofString()).thenApply(r -> {
            if (r.statusCode() != 200) {
                throw new AssertionError(r.statusCode() + ": " + r.body());
            }
            return ClusterTestSupport.sseText(r.body());
        });
    }

    @Test
    void aDeadEncoderLeavesTheImageToThePdNodeAndTheAnswerIsUnchanged() throws Exception {
        NodeProcess dead = NodeProcess.start(
                "cluster-dead-encoder",
                "dev.jepd.proxy.ProxyMain",
                List.of("--host", "127.0.0.1", "--port", "0", "--decode-servers-urls", "http://127.0.0.1:1"));
        int deadPort = dead.port();
        dead.kill();
        try (NodeProcess p2 = NodeProcess.start(
                "cluster-proxy-dead-e",
                "dev.jepd.proxy.ProxyMain",
                List.of(
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "0",
                        "--encode-servers-urls",
                        "http://127.0.0.1:" + deadPort,
                        "--decode-servers-urls",
                        pd.url(),
                        "--connect-timeout",
                        "2",
                        "--upstream-timeout",
                        "10"))) {
            Http.Response r = Http.post(
                    p2.url() + "/v1/chat/completions",
                    Requests.chat("tiny", EpdNodesTest.image("img_112x84"), "Describe this image.", 16, false)
                            .toString());
            assertEquals(200, r.status(), r.body());
            assertEquals(
                    EpdNodesTest.golden("img_112x84"),
                    r.json().at("/choices/0/message/content").asText(),
                    "the PD node encoded the image itself");
            Http.Response h = Http.get(p2.url() + "/health");
            assertEquals(503, h.status());
            assertEquals("unhealthy", h.json().path("encode_cluster").asText());
            assertEquals(false, h.json().at("/nodes/encode/0/routable").asBoolean(), h.body());
        }
    }
}
