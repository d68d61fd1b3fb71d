package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.jepd.models.tiny.TinyModels;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * A PD node as a real process, through the official OpenAI SDK: clients that give up on non-streamed requests
 * leave no work running, and SIGTERM drains the node (running requests complete, new ones get 503 JSON with
 * Retry-After) before it exits 0. The SIGTERM test ends the node, so it runs last.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NodeLifecycleTest {
    static NodeProcess pd;

    @BeforeAll
    static void start() throws Exception {
        Path model =
                TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        pd = NodeProcess.serve(
                "pd-lifecycle", model, "--served-model-name", "tiny", "--max-model-len", "16384", "--seed", "1");
    }

    @AfterAll
    static void stop() throws InterruptedException {
        NodeProcess.closeAll(pd);
    }

    static OpenAIClient sdk(Duration timeout) {
        return OpenAIOkHttpClient.builder()
                .baseUrl(pd.url() + "/v1")
                .apiKey("unused")
                .timeout(timeout)
                .maxRetries(0)
                .build();
    }

    static ChatCompletionCreateParams longRequest(Long maxTokens) {
        ChatCompletionCreateParams.Builder b = ChatCompletionCreateParams.builder()
                .model("tiny")
                .addUserMessage("Tell me a very long story.")
                .temperature(0.0)
                .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true));
        if (maxTokens != null) {
            b.maxCompletionTokens(maxTokens);
        }
        return b.build();
    }

    @Test
    @Order(1)
    void twentyAbandonedNonStreamingRequestsLeaveNothingRunning() throws Exception {
        double abandonedBefore = Http.metric(pd.url(), "jepd:requests_abandoned_total");
        OpenAIClient impatient = sdk(Duration.ofSeconds(2));
        List<CompletableFuture<Throwable>> calls = new ArrayList<>();
        ExecutorService clients = Executors.newFixedThreadPool(20);
        for (int i = 0; i < 20; i++) {
            // No max_tokens: each would run to the 16k context.
            calls.add(CompletableFuture.supplyAsync(
                    () -> {
                        try {
                            impatient.chat().completions().create(longRequest(null));
                            return null;
                        } catch (RuntimeException e) {
                            return e;
                        }
                    },
                    clients));
        }
        for (CompletableFuture<Throwable> c : calls) {
            Throwable t = c.get(60, TimeUnit.SECONDS);
            assertTrue(t != null, "a 16k-token request answered within the client's 2 s");
        }
        clients.shutdown();
        Thread.sleep(1000);
        assertEquals(
                0,
                Http.metric(pd.url(), "vllm:num_requests_running"),
                "running 1 s after the clients left; abandoned: "
                        + (Http.metric(pd.url(), "jepd:requests_abandoned_total") - abandonedBefore) + "; "
                        + calls.getFirst().get());
        assertEquals(0, Http.metric(pd.url(), "vllm:num_requests_waiting"), "waiting 1 s after the clients left");
        assertEquals(20, Http.metric(pd.url(), "jepd:requests_abandoned_total") - abandonedBefore);
        // The node still serves.
        ChatCompletion c = sdk(Duration.ofSeconds(60)).chat().completions().create(longRequest(4L));
        assertEquals(4, c.usage().orElseThrow().completionTokens());
    }

    @Test
    @Order(2)
    void sigtermLetsEightRunningRequestsCompleteThenExitsZero() throws Exception {
        OpenAIClient patient = sdk(Duration.ofSeconds(120));
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<Future<ChatCompletion>> running = new ArrayList<>();
        long tokens = 1500;
        for (int i = 0; i < 8; i++) {
            running.add(pool.submit(() -> patient.chat().completions().create(longRequest(tokens))));
        }
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (Http.metric(pd.url(), "vllm:num_requests_running") < 8 && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertEquals(8, Http.metric(pd.url(), "vllm:num_requests_running"), "all 8 running before SIGTERM");
        pd.terminate();
        // While draining, a new request is refused with OpenAI JSON and Retry-After.
        HttpResponse<String> refused = refusedWhileDraining();
        assertEquals(503, refused.statusCode(), refused.body());
        assertTrue(refused.headers().firstValue("Retry-After").isPresent(), "Retry-After");
        JsonNode error = Http.JSON.readTree(refused.body()).path("error");
        assertEquals(503, error.path("code").asInt());
        for (Future<ChatCompletion> f : running) {
            ChatCompletion c = f.get(120, TimeUnit.SECONDS);
            assertEquals(tokens, c.usage().orElseThrow().completionTokens(), "a drained request ran to its end");
        }
        pool.shutdown();
        assertEquals(0, pd.waitFor(60), "exit status after a graceful drain");
    }

    /** Posts until the node answers 503 (the drain starts a moment after the signal). */
    private static HttpResponse<String> refusedWhileDraining() throws Exception {
        HttpClient client =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpResponse<String> r = null;
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < end) {
            r = client.send(
                    HttpRequest.newBuilder(URI.create(pd.url() + "/v1/chat/completions"))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(
                                    "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                                            + "\"max_tokens\":1}"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 503) {
                return r;
            }
            assertInstanceOf(String.class, r.body());
            Thread.sleep(20);
        }
        return r;
    }
}
