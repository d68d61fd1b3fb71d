package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * E+P+D with real processes: the shared encoder, a prefill node (kv_producer), a decode node (kv_consumer) and
 * the JEPD proxy with {@code --prefill-servers-urls}. Answers must equal the golden texts (images) and a single
 * node's answers (text) token for token; held blocks must come back after confirmation and after a lease.
 */
class PrefillDecodeTest {
    static final int BLOCK = 16;
    static SharedCluster shared;
    static NodeProcess prefill;
    static NodeProcess decode;
    static NodeProcess proxy;

    @BeforeAll
    static void start() throws Exception {
        shared = SharedCluster.get();
        prefill = pdNode("pd-prefill", kvConfig("kv_producer", "\"lease_seconds\":120"));
        decode = pdNode("pd-decode", kvConfig("kv_consumer", "\"transfer_timeout_seconds\":20"));
        proxy = proxy("pd-proxy", shared.encoder().url(), prefill.url(), decode.url());
    }

    @AfterAll
    static void stop() throws Exception {
        NodeProcess.closeAll(proxy, decode, prefill);
    }

    static String kvConfig(String role, String extra) {
        return "{\"kv_connector\":\"JepdConnector\",\"kv_role\":\"" + role + "\","
                + "\"kv_connector_extra_config\":{\"side_channel_port\":0"
                + (extra.isEmpty() ? "" : "," + extra) + "}}";
    }

    /** A PD node reading the shared EC directory, with a KV role. */
    static NodeProcess pdNode(String name, String kvConfig) throws Exception {
        return pdNode(name, kvConfig, shared.model(), shared.ec());
    }

    static NodeProcess pdNode(String name, String kvConfig, Path model, Path ec) throws Exception {
        return pdNode(name, kvConfig, model, ec, java.util.Map.of());
    }

    static NodeProcess pdNode(String name, String kvConfig, Path model, Path ec, java.util.Map<String, String> env)
            throws Exception {
        return NodeProcess.serve(
                name,
                model,
                env,
                "--served-model-name",
                "tiny",
                "--allowed-local-media-path",
                SharedCluster.GOLDEN.resolve("images").toString(),
                "--ec-transfer-config",
                SharedCluster.ecConfig("ec_consumer", ec),
                "--kv-transfer-config",
                kvConfig,
                "--max-model-len",
                "4096",
                "--max-num-seqs",
                "64");
    }

    static NodeProcess proxy(String name, String encoders, String prefills, String decodes) throws Exception {
        return NodeProcess.start(
                name,
                "dev.jepd.proxy.ProxyMain",
                List.of(
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "0",
                        "--encode-servers-urls",
                        encoders,
                        "--prefill-servers-urls",
                        prefills,
                        "--decode-servers-urls",
                        decodes));
    }

    static OpenAIClient sdk(NodeProcess through) {
        return OpenAIOkHttpClient.builder()
                .baseUrl(through.url() + "/v1")
                .apiKey("unused")
                .build();
    }

    /** A /v1/completions body with exactly {@code n} prompt tokens. */
    static ObjectNode tokens(int n, int maxTokens) {
        ObjectNode body = Http.JSON.createObjectNode();
        body.put("model", "tiny");
        var ids = body.putArray("prompt");
        for (int i = 0; i < n; i++) {
            ids.add(1000 + (i * 7919) % 20000);
        }
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0);
        return body;
    }

    /** What the proxy sends a prefill node (DESIGN §4.4). */
    static ObjectNode forPrefill(ObjectNode body) {
        ObjectNode p = body.deepCopy();
        ObjectNode kv = p.putObject("kv_transfer_params");
        kv.put("do_remote_decode", true);
        kv.put("do_remote_prefill", false);
        kv.putNull("remote_engine_id");
        kv.putNull("remote_block_ids");
        kv.putNull("remote_host");
        kv.putNull("remote_port");
        p.put("stream", false);
        p.put("max_tokens", 1);
        return p;
    }

    static double held(NodeProcess p) throws Exception {
        return Http.metric(p.url(), "jepd:kv_blocks_held");
    }

    static void awaitMetric(NodeProcess p, String name, double value, int seconds) throws Exception {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        double v;
        while ((v = Http.metric(p.url(), name)) != value) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(
                        p.name() + " " + name + " is " + v + ", expected " + value + " within " + seconds + " s");
            }
            Thread.sleep(100);
        }
    }

    @Test
    void imagesThroughEpdEqualTheGoldenAndTheDecodeNodeLoadsThePromptKv() throws Exception {
        double loaded = Http.metric(decode.url(), "jepd:kv_remote_prefill_tokens_total");
        double confirmed = Http.metric(prefill.url(), "jepd:kv_leases_confirmed_total");
        for (String name : List.of("img_112x84", "img_100x61")) {
            var params = EpdNodesTest.sdkParams(EpdNodesTest.image(name));
            String whole = EpdNodesTest.answer(sdk(proxy), params);
            assertEquals(EpdNodesTest.golden(name), whole, name);
            StringBuilder streamed = new StringBuilder();
            try (StreamResponse<ChatCompletionChunk> s =
                    sdk(proxy).chat().completions().createStreaming(params)) {
                s.stream().forEach(ch -> ch.choices()
                        .forEach(c -> c.delta().content().ifPresent(streamed::append)));
            }
            assertEquals(EpdNodesTest.golden(name), streamed.toString(), name + " streamed");
        }
        assertTrue(
                Http.metric(decode.url(), "jepd:kv_remote_prefill_tokens_total") > loaded,
                "the decode node loaded prompt KV from the prefill node");
        awaitMetric(prefill, "jepd:kv_blocks_held", 0, 30);
        assertEquals(confirmed + 4, Http.metric(prefill.url(), "jepd:kv_leases_confirmed_total"));
        assertEquals(0, Http.metric(prefill.url(), "vllm:kv_cache_usage_perc"));
    }

    @Test
    void textPromptsAroundBlockBoundariesEqualASingleNode() throws Exception {
        for (int n : new int[] {1, 15, 16, 17, 33, 2000}) {
            ObjectNode body = tokens(n, 16);
            // The prefill node is a whole PD node too: without kv_transfer_params it answers by itself.
            Http.Response single = Http.post(prefill.url() + "/v1/completions", body.toString());
            assertEquals(200, single.status(), single.body());
            double loaded = Http.metric(decode.url(), "jepd:kv_remote_prefill_tokens_total");
            Http.Response pd = Http.post(proxy.url() + "/v1/completions", body.toString());
            assertEquals(200, pd.status(), pd.body());
            assertEquals(
                    single.json().at("/choices/0/text").asText(),
                    pd.json().at("/choices/0/text").asText(),
                    n + " prompt tokens");
            assertEquals(16, pd.json().at("/usage/completion_tokens").asInt(), pd.body());
            assertEquals(n, pd.json().at("/usage/prompt_tokens").asInt(), pd.body());
            assertEquals(
                    loaded + n - 1,
                    Http.metric(decode.url(), "jepd:kv_remote_prefill_tokens_total"),
                    "all prompt tokens but the last came from the prefill node (" + n + ")");
        }
        for (String text : List.of("Hello there!", "Tell me a story about a cat.")) {
            String body = Requests.chat("tiny", null, text, 16, false).toString();
            Http.Response single = Http.post(prefill.url() + "/v1/chat/completions", body);
            Http.Response pd = Http.post(proxy.url() + "/v1/chat/completions", body);
            assertEquals(200, pd.status(), pd.body());
            assertEquals(
                    single.json().at("/choices/0/message/content").asText(),
                    pd.json().at("/choices/0/message/content").asText(),
                    text);
        }
        awaitMetric(prefill, "jepd:kv_blocks_held", 0, 30);
    }

    @Test
    void thePrefillNodeAnswersOneTokenAndTheParamsAndHoldsTheBlocksUntilTheLeaseEnds() throws Exception {
        try (NodeProcess p = pdNode("pd-prefill-short-lease", kvConfig("kv_producer", "\"lease_seconds\":3"))) {
            double expired = Http.metric(p.url(), "jepd:kv_leases_expired_total");
            Http.Response r = Http.post(
                    p.url() + "/v1/completions", forPrefill(tokens(33, 16)).toString(), "x-request-id", "lease-1");
            assertEquals(200, r.status(), r.body());
            assertEquals(1, r.json().at("/usage/completion_tokens").asInt(), r.body());
            JsonNode kv = r.json().get("kv_transfer_params");
            assertNotNull(kv, r.body());
            assertTrue(kv.path("do_remote_prefill").asBoolean(), r.body());
            assertFalse(kv.path("do_remote_decode").asBoolean(), r.body());
            assertEquals(3, kv.path("remote_block_ids").size(), "33 tokens in blocks of 16: " + r.body());
            assertEquals("127.0.0.1", kv.path("remote_host").asText());
            assertTrue(kv.path("remote_port").asInt() > 0, r.body());
            assertFalse(kv.path("remote_engine_id").asText().isEmpty(), r.body());
            assertTrue(kv.path("remote_request_id").asText().startsWith("cmpl-lease-1"), r.body());
            assertEquals(1, kv.path("tp_size").asInt());
            // No decode node ever comes: the blocks are held, then freed when the lease runs out.
            assertEquals(3, held(p), "held right after the prefill");
            awaitMetric(p, "jepd:kv_blocks_held", 0, 60);
            assertEquals(expired + 1, Http.metric(p.url(), "jepd:kv_leases_expired_total"));
            assertEquals(0, Http.metric(p.url(), "vllm:kv_cache_usage_perc"));
            // A decode node arriving after the lease gets a clear error from the prefill node.
            ObjectNode late = tokens(33, 16);
            late.set("kv_transfer_params", kv);
            Http.Response d = Http.post(decode.url() + "/v1/completions", late.toString());
            assertEquals(502, d.status(), d.body());
            assertTrue(d.json().at("/error/message").asText().contains("no KV blocks held"), d.body());
        }
    }

    @Test
    void aDecodeWhosePrefillNodeDiedFailsQuicklyOrRecomputesByPolicy() throws Exception {
        ObjectNode body = tokens(40, 16);
        Http.Response single = Http.post(prefill.url() + "/v1/completions", body.toString());
        assertEquals(200, single.status(), single.body());
        NodeProcess p = pdNode("pd-prefill-doomed", kvConfig("kv_producer", ""));
        JsonNode kv;
        try {
            Http.Response r =
                    Http.post(p.url() + "/v1/completions", forPrefill(body).toString());
            assertEquals(200, r.status(), r.body());
            kv = r.json().get("kv_transfer_params");
        } finally {
            p.kill();
        }
        ObjectNode stale = body.deepCopy();
        stale.set("kv_transfer_params", kv);
        long t0 = System.nanoTime();
        Http.Response failed = Http.post(decode.url() + "/v1/completions", stale.toString());
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(502, failed.status(), failed.body());
        assertEquals(502, failed.json().at("/error/code").asInt(), failed.body());
        assertTrue(failed.json().at("/error/message").asText().contains("KV transfer"), failed.body());
        assertTrue(seconds < 60, "answered in " + seconds + " s");

        try (NodeProcess recompute =
                pdNode("pd-decode-recompute", kvConfig("kv_consumer", "\"kv_load_failure_policy\":\"recompute\""))) {
            Http.Response r = Http.post(recompute.url() + "/v1/completions", stale.toString());
            assertEquals(200, r.status(), r.body());
            assertEquals(
                    single.json().at("/choices/0/text").asText(),
                    r.json().at("/choices/0/text").asText());
            assertEquals(1, Http.metric(recompute.url(), "jepd:kv_transfer_failures_total"));
            assertEquals(0, Http.metric(recompute.url(), "jepd:kv_remote_prefill_tokens_total"));
        }
    }

    @Test
    void rolesAreEnforced() throws Exception {
        Http.Response onDecode = Http.post(
                decode.url() + "/v1/completions", forPrefill(tokens(5, 4)).toString());
        assertEquals(400, onDecode.status(), onDecode.body());
        assertTrue(onDecode.json().at("/error/message").asText().contains("kv_consumer"), onDecode.body());
        Http.Response noConfig = Http.post(
                shared.pd().url() + "/v1/completions", forPrefill(tokens(5, 4)).toString());
        assertEquals(400, noConfig.status(), noConfig.body());
        assertTrue(noConfig.json().at("/error/message").asText().contains("--kv-transfer-config"), noConfig.body());
    }
}
