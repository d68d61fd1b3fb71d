package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * 2E2P2D: two encoders, two prefill nodes, two decode nodes and the proxy, all real processes sharing one EC
 * directory; 32 concurrent mixed requests must all come back with the single-node answers.
 */
class PrefillDecodeScaleTest {
    static final List<NodeProcess> NODES = new ArrayList<>();
    static NodeProcess[] encoders = new NodeProcess[2];
    static NodeProcess[] prefills = new NodeProcess[2];
    static NodeProcess[] decodes = new NodeProcess[2];
    static NodeProcess proxy;

    @BeforeAll
    static void start() throws Exception {
        SharedCluster shared = SharedCluster.get(); // the model, and a single node for text references
        Path ec = Files.createTempDirectory(Path.of("target").toAbsolutePath(), "ec-2e2p2d-");
        for (int i = 0; i < 2; i++) {
            encoders[i] = NodeProcess.serve(
                    "2e2p2d-encoder-" + i,
                    shared.model(),
                    "--served-model-name",
                    "tiny",
                    "--allowed-local-media-path",
                    SharedCluster.GOLDEN.resolve("images").toString(),
                    "--ec-transfer-config",
                    SharedCluster.ecConfig("ec_producer", ec));
            NODES.add(encoders[i]);
        }
        for (int i = 0; i < 2; i++) {
            prefills[i] = PrefillDecodeTest.pdNode(
                    "2e2p2d-prefill-" + i,
                    PrefillDecodeTest.kvConfig("kv_producer", "\"lease_seconds\":120"),
                    shared.model(),
                    ec);
            NODES.add(prefills[i]);
            decodes[i] = PrefillDecodeTest.pdNode(
                    "2e2p2d-decode-" + i, PrefillDecodeTest.kvConfig("kv_consumer", ""), shared.model(), ec);
            NODES.add(decodes[i]);
        }
        proxy = PrefillDecodeTest.proxy(
                "2e2p2d-proxy",
                encoders[0].url() + "," + encoders[1].url(),
                prefills[0].url() + "," + prefills[1].url(),
                decodes[0].url() + "," + decodes[1].url());
        NODES.add(proxy);
    }

    @AfterAll
    static void stop() throws Exception {
        for (NodeProcess p : NODES.reversed()) {
            p.close();
        }
    }

    static final HttpClient CLIENT =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    static CompletableFuture<String> send(String body, boolean stream) {
        HttpRequest req = HttpRequest.newBuilder(URI.create(proxy.url() + "/v1/chat/completions"))
                .timeout(Duration.ofMinutes(5))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        return CLIENT.sendAsync(req, HttpResponse.BodyHandlers.ofString()).thenApply(r -> {
            if (r.statusCode() != 200) {
                throw new AssertionError(r.statusCode() + ": " + r.body());
            }
            if (stream) {
                return ClusterTestSupport.sseText(r.body());
            }
            try {
                return Http.JSON
                        .readTree(r.body())
                        .at("/choices/0/message/content")
                        .asText();
            } catch (java.io.IOException e) {
                throw new AssertionError(r.body(), e);
            }
        });
    }

    @Test
    void thirtyTwoConcurrentMixedRequestsAllMatchTheSingleNodeAnswers() throws Exception {
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("img:img_112x84", SharedCluster.golden("img_112x84"));
        expected.put("img:img_100x61", SharedCluster.golden("img_100x61"));
        for (String t : List.of("Hello there!", "Tell me a story about a cat.", "1 2 3 4 5")) {
            Http.Response single = Http.post(
                    prefills[0].url() + "/v1/chat/completions",
                    Requests.chat("tiny", null, t, 16, false).toString());
            assertEquals(200, single.status(), single.body());
            expected.put(
                    "txt:" + t, single.json().at("/choices/0/message/content").asText());
        }
        List<String> keys = new ArrayList<>(expected.keySet());
        List<CompletableFuture<String>> results = new ArrayList<>();
        List<String> wanted = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            String k = keys.get(i % keys.size());
            String url = k.startsWith("img:") ? SharedCluster.image(k.substring(4)) : null;
            String text = k.startsWith("img:") ? "Describe this image." : k.substring(4);
            boolean stream = i % 2 == 0;
            results.add(send(Requests.chat("tiny", url, text, 16, stream).toString(), stream));
            wanted.add(expected.get(k));
        }
        for (int i = 0; i < 32; i++) {
            assertEquals(wanted.get(i), results.get(i).join(), "request " + i);
        }
        for (int i = 0; i < 2; i++) {
            assertTrue(
                    Http.metric(prefills[i].url(), "jepd:kv_leases_confirmed_total") > 0,
                    "prefill node " + i + " served decodes");
            assertTrue(
                    Http.metric(decodes[i].url(), "jepd:kv_remote_prefill_tokens_total") > 0,
                    "decode node " + i + " loaded remote KV");
            assertEquals(0, Http.metric(decodes[i].url(), "jepd:kv_transfer_failures_total"));
            PrefillDecodeTest.awaitMetric(prefills[i], "jepd:kv_blocks_held", 0, 30);
        }
        double confirmed = Http.metric(prefills[0].url(), "jepd:kv_leases_confirmed_total")
                + Http.metric(prefills[1].url(), "jepd:kv_leases_confirmed_total");
        assertEquals(32, confirmed, "every prefill was confirmed by its decode node");
    }
}
