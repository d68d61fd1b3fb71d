package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.engine.safetensors.SafetensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An encoder node and a PD node as real processes sharing an EC directory, driven the way the proxy and
 * clients drive them: the encoder request of DESIGN §4.3, then the chat request to the PD node through the
 * official OpenAI Java SDK and raw HTTP.
 */
class EpdNodesTest {
    static final Path GOLDEN = SharedCluster.GOLDEN;
    static SharedCluster cluster;
    static Path ec;
    static NodeProcess encoder;
    static NodeProcess pd;

    @BeforeAll
    static void start() throws Exception {
        cluster = SharedCluster.get();
        ec = cluster.ec();
        encoder = cluster.encoder();
        pd = cluster.pd();
    }

    static String image(String name) {
        return SharedCluster.image(name);
    }

    static String golden(String name) throws Exception {
        return SharedCluster.golden(name);
    }

    static OpenAIClient sdk() {
        return OpenAIOkHttpClient.builder()
                .baseUrl(pd.url() + "/v1")
                .apiKey("unused")
                .build();
    }

    /** The assistant's text of one non-streamed chat completion through the SDK. */
    static String answer(OpenAIClient client, ChatCompletionCreateParams params) {
        return client.chat()
                .completions()
                .create(params)
                .choices()
                .getFirst()
                .message()
                .content()
                .orElseThrow();
    }

    static ChatCompletionCreateParams sdkParams(String imageUrl) {
        return ChatCompletionCreateParams.builder()
                .model("tiny")
                .addUserMessageOfArrayOfContentParts(List.of(
                        ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage.builder()
                                .imageUrl(ChatCompletionContentPartImage.ImageUrl.builder()
                                        .url(imageUrl)
                                        .build())
                                .build()),
                        ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder()
                                .text("Describe this image.")
                                .build())))
                .maxCompletionTokens(16)
                .temperature(0.0)
                .build();
    }

    @Test
    void encoderWritesTheEcFileThenThePdNodeAnswersFromItAndRepeatsAreHits() throws Exception {
        for (String name : List.of("img_112x84", "img_100x61")) {
            Http.Response e = Http.post(
                    encoder.url() + "/v1/chat/completions",
                    Requests.encoderRequest("tiny", image(name)).toString(),
                    "x-request-id",
                    "parent:0:abc123");
            assertEquals(200, e.status(), e.body());
            JsonNode written = e.json().path("jepd").path("ec").get(0);
            assertTrue(written.path("computed").asBoolean(), e.body());
            assertEquals("length", e.json().at("/choices/0/finish_reason").asText());
            Path file = ec.resolve(written.path("key").asText()).resolve("encoder_cache.safetensors");
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                assertEquals(List.of("ec_cache"), List.copyOf(f.names()));
                assertEquals(DType.BF16, f.info("ec_cache").dtype());
                long tokens = name.equals("img_112x84") ? 12 : 8;
                assertEquals(
                        List.of(tokens, 64L),
                        Stream.of(f.info("ec_cache").shape())
                                .flatMapToLong(java.util.Arrays::stream)
                                .boxed()
                                .toList());
            }
            double hits = Http.metric(pd.url(), "jepd:ec_hits_total");
            ChatCompletion c = sdk().chat().completions().create(sdkParams(image(name)));
            assertEquals(
                    golden(name), c.choices().getFirst().message().content().orElseThrow());
            assertEquals(hits + 1, Http.metric(pd.url(), "jepd:ec_hits_total"), "the PD node used the EC file");
        }
        // A repeat: the encoder does not recompute, the PD node hits again.
        double encoded = Http.metric(encoder.url(), "jepd:encoded_images_total");
        Http.Response again = Http.post(
                encoder.url() + "/v1/chat/completions",
                Requests.encoderRequest("tiny", image("img_112x84")).toString());
        assertFalse(again.json().at("/jepd/ec/0/computed").asBoolean(), again.body());
        assertEquals(encoded, Http.metric(encoder.url(), "jepd:encoded_images_total"));
        double hits = Http.metric(pd.url(), "jepd:ec_hits_total");
        ChatCompletion c = sdk().chat().completions().create(sdkParams(image("img_112x84")));
        assertEquals(
                golden("img_112x84"), c.choices().getFirst().message().content().orElseThrow());
        assertEquals(hits + 1, Http.metric(pd.url(), "jepd:ec_hits_total"));
    }

    @Test
    void aMissIsEncodedLocallyAndCounted() throws Exception {
        byte[] png = Files.readAllBytes(GOLDEN.resolve("images/img_100x61.png"));
        // A uuid never written by the encoder: the PD node must miss and encode it itself.
        var body = Requests.chat(
                "tiny",
                "data:image/png;base64," + Base64.getEncoder().encodeToString(png),
                "Describe this image.",
                16,
                false);
        ((com.fasterxml.jackson.databind.node.ObjectNode) body.at("/messages/0/content/0"))
                .put("uuid", "never-encoded-1");
        double misses = Http.metric(pd.url(), "jepd:ec_misses_total");
        Http.Response r = Http.post(pd.url() + "/v1/chat/completions", body.toString());
        assertEquals(200, r.status(), r.body());
        assertEquals(
                golden("img_100x61"), r.json().at("/choices/0/message/content").asText());
        assertEquals(misses + 1, Http.metric(pd.url(), "jepd:ec_misses_total"));
        assertFalse(Files.exists(ec.resolve("never-encoded-1")), "a consumer does not write the EC");
    }

    @Test
    void streamsSseExactlyAsVllmDoes() throws Exception {
        var body = Requests.chat("tiny", image("img_112x84"), "Describe this image.", 16, true);
        body.putObject("stream_options").put("include_usage", true);
        Http.Response r = Http.post(pd.url() + "/v1/chat/completions", body.toString());
        assertEquals(200, r.status(), r.body());
        assertTrue(r.body().endsWith("data: [DONE]\n\n"), r.body());
        String[] events = r.body().split("\n\n");
        List<JsonNode> chunks = new ArrayList<>();
        for (int i = 0; i < events.length - 1; i++) {
            assertTrue(events[i].startsWith("data: {"), events[i]);
            chunks.add(Http.JSON.readTree(events[i].substring(6)));
        }
        assertEquals("data: [DONE]", events[events.length - 1]);
        JsonNode first = chunks.getFirst();
        assertEquals("assistant", first.at("/choices/0/delta/role").asText());
        assertFalse(first.at("/choices/0/delta/content").asText().isEmpty(), "the role arrives with the first token");
        StringBuilder text = new StringBuilder();
        String id = first.path("id").asText();
        for (int i = 0; i < chunks.size() - 1; i++) {
            JsonNode c = chunks.get(i);
            assertEquals(id, c.path("id").asText());
            assertEquals("chat.completion.chunk", c.path("object").asText());
            text.append(c.at("/choices/0/delta/content").asText());
            assertEquals(
                    i == chunks.size() - 2 ? "length" : null,
                    c.at("/choices/0/finish_reason").isNull()
                            ? null
                            : c.at("/choices/0/finish_reason").asText());
        }
        assertEquals(golden("img_112x84"), text.toString());
        JsonNode usage = chunks.getLast();
        assertEquals(0, usage.path("choices").size());
        assertEquals(16, usage.at("/usage/completion_tokens").asInt());
        assertEquals(37, usage.at("/usage/prompt_tokens").asInt());

        // The SDK's streaming client reads the same stream.
        StringBuilder viaSdk = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> s =
                sdk().chat().completions().createStreaming(sdkParams(image("img_112x84")))) {
            s.stream()
                    .forEach(ch -> ch.choices().forEach(c -> c.delta().content().ifPresent(viaSdk::append)));
        }
        assertEquals(golden("img_112x84"), viaSdk.toString());
    }

    @Test
    void aClientThatHangsUpAbortsItsRequestAndFreesItsBlocks() throws Exception {
        double aborted = Http.metric(pd.url(), "jepd:num_requests_aborted");
        var body = Requests.chat("tiny", null, "Write a very long story.", 900, true)
                .put("ignore_eos", true);
        byte[] payload = body.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", pd.port())) {
            var out = s.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            + "Content-Length: " + payload.length + "\r\n\r\n")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            out.write(payload);
            out.flush();
            var in = new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream()));
            for (String line; (line = in.readLine()) != null; ) {
                if (line.startsWith("data: {")) {
                    break; // the stream is running: hang up now
                }
            }
        }
        // Liveness bound, not a speed target: the request would need ~900 steps to finish on its own.
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
        while (Http.metric(pd.url(), "jepd:num_requests_aborted") < aborted + 1 && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertEquals(aborted + 1, Http.metric(pd.url(), "jepd:num_requests_aborted"));
        assertEquals(0.0, Http.metric(pd.url(), "vllm:num_requests_running"));
        assertEquals(0.0, Http.metric(pd.url(), "vllm:kv_cache_usage_perc"), "its KV blocks are free again");
    }
}
