package dev.jepd.pd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.api.HttpServer;
import dev.jepd.api.Json;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.generate.EngineClient;
import dev.jepd.engine.generate.EngineInfo;
import dev.jepd.engine.generate.EngineRequest;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.KvHandoff;
import dev.jepd.engine.generate.RequestRejectedException;
import dev.jepd.engine.generate.TokenSink;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.engine.text.FinishReason;
import dev.jepd.engine.text.StopConditions;
import dev.jepd.serving.EncodedImage;
import dev.jepd.serving.ServingLimits;
import dev.jepd.serving.ServingMetrics;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The PD node's routes over a fake engine on port 0: the JSON and SSE a client sees for a scripted token
 * sequence, and the error bodies for bad input. No model, no tensors, no child processes.
 */
class PdRoutesTest {
    /** Answers every request with the deltas "Hel", "lo" and a last token "!" (length cap). */
    static final class ScriptedEngine implements EngineClient {
        final List<EngineRequest> submitted = new CopyOnWriteArrayList<>();
        final List<String> aborted = new CopyOnWriteArrayList<>();
        volatile RuntimeException failWith;
        /** Never answers (a request that would run for ever). */
        volatile boolean hang;
        /** Sends a token every 5 ms until aborted (a long generation: its queue is never idle). */
        volatile boolean endless;

        volatile int waiting;

        @Override
        public void submit(EngineRequest request, TokenSink sink) {
            if (request.generation().promptIds().length > 50) {
                throw new RequestRejectedException("prompt too long for the fake engine", "max_tokens");
            }
            submitted.add(request);
            // The real engine calls the sink from its own thread; so does this one.
            Thread.ofVirtual().start(() -> {
                if (hang) {
                    return;
                }
                while (endless && !aborted.contains(request.id())) {
                    sink.onToken(10, "x");
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (failWith != null) {
                    sink.onError(failWith);
                    return;
                }
                int prompt = request.generation().promptIds().length;
                sink.onToken(10, "Hel");
                sink.onToken(11, "lo");
                sink.onLastToken(12, "!", FinishReason.LENGTH, null, new TokenSink.Usage(prompt, 3));
            });
        }

        @Override
        public void abort(String requestId) {
            aborted.add(requestId);
        }

        @Override
        public int numWaiting() {
            return waiting;
        }

        @Override
        public EngineInfo info() {
            return new EngineInfo(4096);
        }
    }

    /** One token per message, per character of a text prompt, or the ids as given. */
    static final class CountingPrompts implements PromptPreparer {
        @Override
        public GenerationRequest chat(
                String id, List<ChatMessage> messages, List<EncodedImage> images, SamplingParams sampling) {
            return request(id, new int[messages.size()], sampling);
        }

        @Override
        public GenerationRequest text(String id, String text, SamplingParams sampling) {
            return request(id, text.chars().toArray(), sampling);
        }

        @Override
        public GenerationRequest tokens(String id, int[] ids, SamplingParams sampling) {
            return request(id, ids, sampling);
        }

        private static GenerationRequest request(String id, int[] ids, SamplingParams sampling) {
            PromptPositions positions = new PromptPositions(new long[3][ids.length], 0); // [3 axes, T]
            int max = sampling.maxTokens() != null ? sampling.maxTokens() : 16;
            return new GenerationRequest(
                    id, ids, List.of(), List.of(), positions, sampling, StopConditions.maxTokens(max));
        }
    }

    private final ScriptedEngine engine = new ScriptedEngine();
    private final ServingMetrics metrics = new ServingMetrics("tiny");
    private final HttpClient client = HttpClient.newHttpClient();
    private HttpServer server;
    private String base;

    @BeforeEach
    void start() {
        InputResolver noImages = chat -> {
            if (!chat.images().isEmpty()) {
                throw new AssertionError("these tests send no images");
            }
            return List.of();
        };
        server = PdAssembly.routes(
                HttpServer.builder("test PD node").host("127.0.0.1").port(0),
                engine,
                new CountingPrompts(),
                noImages,
                KvHandoffs.disabled(),
                metrics,
                List.of("tiny"),
                "/models/tiny",
                1 << 20,
                new ServingLimits(null, 2));
        base = "http://127.0.0.1:" + server.port();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return client.send(
                HttpRequest.newBuilder(URI.create(base + path))
                        .header("Content-Type", "application/json")
                        .header("X-Request-Id", "r1")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static final String CHAT =
            "{\"model\":\"tiny\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                    + "{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":3";

    @Test
    void chatAnswersInOnePiece() throws Exception {
        HttpResponse<String> r = post("/v1/chat/completions", CHAT + "}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = Json.MAPPER.readTree(r.body());
        assertEquals("chat.completion", body.path("object").asText());
        assertEquals("chatcmpl-r1", body.path("id").asText());
        assertEquals("tiny", body.path("model").asText());
        JsonNode choice = body.path("choices").path(0);
        assertEquals("Hello!", choice.path("message").path("content").asText());
        assertEquals("length", choice.path("finish_reason").asText());
        assertEquals(2, body.path("usage").path("prompt_tokens").asInt()); // two messages, one token each
        assertEquals(3, body.path("usage").path("completion_tokens").asInt());
        EngineRequest sent = engine.submitted.getFirst();
        assertInstanceOf(KvHandoff.None.class, sent.kv());
        assertTrue(sent.id().startsWith("chatcmpl-r1#"), sent.id());
        assertEquals(3, sent.generation().stop().maxTokens());
    }

    @Test
    void chatStreamsOneChunkPerDeltaThenUsageAndDone() throws Exception {
        HttpResponse<String> r =
                post("/v1/chat/completions", CHAT + ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(
                r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"),
                r.headers().toString());
        List<JsonNode> events = new ArrayList<>();
        String[] frames = r.body().split("\n\n");
        assertEquals("data: [DONE]", frames[frames.length - 1]);
        for (int i = 0; i < frames.length - 1; i++) {
            assertTrue(frames[i].startsWith("data: "), frames[i]);
            events.add(Json.MAPPER.readTree(frames[i].substring(6)));
        }
        assertEquals(4, events.size(), r.body()); // "Hel", "lo", "!" with finish_reason, usage
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            JsonNode choice = events.get(i).path("choices").path(0);
            assertEquals("chat.completion.chunk", events.get(i).path("object").asText());
            text.append(choice.path("delta").path("content").asText());
            assertEquals(i == 2 ? "length" : null, choice.path("finish_reason").textValue());
        }
        assertEquals("Hello!", text.toString());
        assertEquals(
                "assistant",
                events.getFirst()
                        .path("choices")
                        .path(0)
                        .path("delta")
                        .path("role")
                        .asText());
        assertEquals(3, events.get(3).path("usage").path("completion_tokens").asInt());
        assertTrue(events.get(3).path("choices").isEmpty());
    }

    @Test
    void completionOfTextAndOfTokenIds() throws Exception {
        HttpResponse<String> r = post("/v1/completions", "{\"model\":\"tiny\",\"prompt\":\"abcd\",\"max_tokens\":3}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = Json.MAPPER.readTree(r.body());
        assertEquals("text_completion", body.path("object").asText());
        assertEquals("cmpl-r1", body.path("id").asText());
        assertEquals("Hello!", body.path("choices").path(0).path("text").asText());
        assertEquals(4, body.path("usage").path("prompt_tokens").asInt());

        r = post("/v1/completions", "{\"prompt\":[5,6,7],\"max_tokens\":3}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(
                3,
                Json.MAPPER
                        .readTree(r.body())
                        .path("usage")
                        .path("prompt_tokens")
                        .asInt());
        assertEquals(
                List.of(5, 6, 7),
                java.util.Arrays.stream(engine.submitted.getLast().generation().promptIds())
                        .boxed()
                        .toList());
    }

    @Test
    void modelsListsTheServedNameAndMaxModelLen() throws Exception {
        HttpResponse<String> r = client.send(
                HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString());
        JsonNode model = Json.MAPPER.readTree(r.body()).path("data").path(0);
        assertEquals("tiny", model.path("id").asText());
        assertEquals(4096, model.path("max_model_len").asInt());
    }

    @Test
    void metricsCountTheRequest() throws Exception {
        post("/v1/chat/completions", CHAT + "}");
        String text = client.send(
                        HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString())
                .body();
        assertTrue(text.contains("vllm:prompt_tokens_total{model_name=\"tiny\",} 2.0"), text);
        assertTrue(text.contains("vllm:generation_tokens_total{model_name=\"tiny\",} 3.0"), text);
        assertTrue(
                text.contains("vllm:request_success_total{model_name=\"tiny\",finished_reason=\"length\",} 1.0"), text);
        assertTrue(text.contains("vllm:time_to_first_token_seconds_count{model_name=\"tiny\",} 1.0"), text);
    }

    private static JsonNode error(HttpResponse<String> r, int status) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode err = Json.MAPPER.readTree(r.body()).path("error");
        assertFalse(err.path("message").asText().isEmpty(), r.body());
        assertEquals(status, err.path("code").asInt());
        return err;
    }

    @Test
    void badInputIsAnOpenAiErrorBody() throws Exception {
        error(post("/v1/chat/completions", "{\"model\":\"tiny\"}"), 400);
        error(post("/v1/chat/completions", "not json"), 400);
        assertEquals(
                "model",
                error(post("/v1/chat/completions", CHAT.replace("\"tiny\"", "\"other\"") + "}"), 404)
                        .path("param")
                        .asText());
        assertEquals(
                "echo",
                error(post("/v1/completions", "{\"prompt\":\"a\",\"echo\":true}"), 400)
                        .path("param")
                        .asText());
        // kv_transfer_params on a node started without --kv-transfer-config
        assertEquals(
                "kv_transfer_params",
                error(post("/v1/chat/completions", CHAT + ",\"kv_transfer_params\":{\"do_remote_decode\":true}}"), 400)
                        .path("param")
                        .asText());
        // rejected by the engine at submit
        assertEquals(
                "max_tokens",
                error(post("/v1/completions", "{\"prompt\":\"" + "x".repeat(60) + "\"}"), 400)
                        .path("param")
                        .asText());
        assertTrue(engine.submitted.isEmpty(), "nothing bad reached the engine");
    }

    @Test
    void engineFailureIsA500() throws Exception {
        engine.failWith = new IllegalStateException("boom");
        JsonNode err = error(post("/v1/completions", "{\"prompt\":\"a\"}"), 500);
        assertEquals(
                "generation failed: IllegalStateException", err.path("message").asText());
    }

    @Test
    void aFailedKvPullIsA502EvenWhenStreaming() throws Exception {
        // What the engine reports when a decode's KV pull fails under kv_load_failure_policy fail.
        engine.failWith = new KvTransferException("prefill node unreachable");
        JsonNode err = error(post("/v1/completions", "{\"prompt\":\"a\"}"), 502);
        assertEquals(
                "KV transfer from the prefill node failed: prefill node unreachable",
                err.path("message").asText());
        assertEquals("kv_transfer_params", err.path("param").asText());
        // Nothing was streamed yet, so the client gets the HTTP error rather than a 200 with an error event.
        HttpResponse<String> r = post("/v1/chat/completions", CHAT + ",\"stream\":true}");
        assertEquals("kv_transfer_params", error(r, 502).path("param").asText());
        assertFalse(r.body().contains("data:"), r.body());
    }

    @Test
    void aRequestPastItsDeadlineIsAbortedWith504() throws Exception {
        engine.hang = true;
        for (boolean stream : new boolean[] {false, true}) {
            engine.aborted.clear();
            HttpResponse<String> r = post(
                    "/v1/chat/completions",
                    "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]," + "\"stream\":"
                            + stream + ",\"request_timeout\":0.2}");
            assertEquals(504, r.statusCode(), r.body());
            assertEquals(
                    "request_timeout",
                    Json.MAPPER.readTree(r.body()).at("/error/param").asText());
            assertEquals(1, engine.aborted.size(), "the engine was told to abort");
        }
        HttpResponse<String> bad = post(
                "/v1/chat/completions",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"request_timeout\":\"soon\"}");
        assertEquals(400, bad.statusCode(), bad.body());
    }

    @Test
    void aNonStreamingClientThatLeavesAbortsItsRequestEvenWhileTokensFlow() throws Exception {
        engine.endless = true;
        aNonStreamingClientThatLeavesAbortsItsRequest();
    }

    @Test
    void aNonStreamingClientThatLeavesAbortsItsRequest() throws Exception {
        engine.hang = !engine.endless;
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":false}";
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", server.port())) {
            s.getOutputStream()
                    .write(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                    + "Content-Length: " + body.length() + "\r\n\r\n" + body)
                            .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            long end = System.nanoTime() + 10_000_000_000L;
            while (engine.submitted.isEmpty() && System.nanoTime() < end) {
                Thread.sleep(10);
            }
            assertEquals(1, engine.submitted.size());
            assertTrue(engine.aborted.isEmpty(), "not aborted while the client waits");
        }
        long end = System.nanoTime() + 10_000_000_000L;
        while (engine.aborted.isEmpty() && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        assertEquals(List.of(engine.submitted.getFirst().id()), engine.aborted);
        assertTrue(metrics.scrape().contains("jepd:requests_abandoned_total{model_name=\"tiny\",} 1.0"));
    }

    @Test
    void tooManyWaitingRequestsAre503WithRetryAfter() throws Exception {
        engine.waiting = 2;
        HttpResponse<String> r =
                post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertEquals(503, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Retry-After").isPresent());
        assertEquals(503, Json.MAPPER.readTree(r.body()).at("/error/code").asInt());
        assertTrue(engine.submitted.isEmpty());
    }

    @Test
    void wrongFieldTypesAre400sNamingTheFieldAndNothingRuns() throws Exception {
        String msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        for (String[] c : new String[][] {
            {"\"stream\":\"maybe\"", "stream"},
            {"\"ignore_eos\":[]", "ignore_eos"},
            {"\"user\":5", "user"},
            {"\"stop_token_ids\":\"1\"", "stop_token_ids"},
            {"\"mm_processor_kwargs\":{\"max_pixels\":\"x\"}", "mm_processor_kwargs.max_pixels"}
        }) {
            HttpResponse<String> r = post("/v1/chat/completions", "{" + msgs + "," + c[0] + "}");
            assertEquals(400, r.statusCode(), c[0]);
            assertEquals(c[1], Json.MAPPER.readTree(r.body()).at("/error/param").asText(), r.body());
        }
        HttpResponse<String> r = post("/v1/completions", "{\"prompt\":\"hi\",\"echo\":\"x\"}");
        assertEquals(400, r.statusCode(), r.body());
        HttpResponse<String> text = client.send(
                HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                        .header("Content-Type", "text/plain")
                        .POST(HttpRequest.BodyPublishers.ofString("{" + msgs + "}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(415, text.statusCode(), text.body());
        assertTrue(engine.submitted.isEmpty());
    }
}
