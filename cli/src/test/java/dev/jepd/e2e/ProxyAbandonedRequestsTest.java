package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.jepd.models.tiny.TinyModels;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Clients that give up on requests through the proxy leave nothing running on the real PD node behind it: the
 * proxy cuts its upstream call as soon as its client is gone, the node sees its client (the proxy) leave and aborts
 * (real processes: a PD node on the tiny model, the proxy; OpenAI SDK clients).
 */
class ProxyAbandonedRequestsTest {
    static NodeProcess pd;
    static NodeProcess proxy;

    @BeforeAll
    static void start() throws Exception {
        Path model =
                TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        pd = NodeProcess.serve(
                "pd-proxy-abandon", model, "--served-model-name", "tiny", "--max-model-len", "16384", "--seed", "1");
        proxy = NodeProcess.start(
                "proxy-abandon",
                "dev.jepd.proxy.ProxyMain",
                List.of("--host", "127.0.0.1", "--port", "0", "--decode-servers-urls", pd.url()));
    }

    @AfterAll
    static void stop() throws InterruptedException {
        NodeProcess.closeAll(proxy, pd);
    }

    private static OpenAIClient sdk(Duration timeout) {
        return OpenAIOkHttpClient.builder()
                .baseUrl(proxy.url() + "/v1")
                .apiKey("unused")
                .timeout(timeout)
                .maxRetries(0)
                .build();
    }

    /** No max_tokens: each would run to the 16k context. */
    private static ChatCompletionCreateParams endless() {
        return ChatCompletionCreateParams.builder()
                .model("tiny")
                .addUserMessage("Tell me a very long story.")
                .temperature(0.0)
                .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true))
                .build();
    }

    @Test
    void abandonedRequestsThroughTheProxyLeaveNothingRunningOnTheNode() throws Exception {
        double abandonedBefore = Http.metric(pd.url(), "jepd:requests_abandoned_total");
        OpenAIClient impatient = sdk(Duration.ofSeconds(2));
        ExecutorService clients = Executors.newFixedThreadPool(12);
        List<CompletableFuture<Throwable>> calls = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            calls.add(CompletableFuture.supplyAsync(
                    () -> {
                        try {
                            impatient.chat().completions().create(endless());
                            return null;
                        } catch (RuntimeException e) {
                            return e;
                        }
                    },
                    clients));
        }
        // Streams: the client reads its first chunk, then closes the stream.
        OpenAIClient streaming = sdk(Duration.ofSeconds(60));
        for (int i = 0; i < 4; i++) {
            calls.add(CompletableFuture.supplyAsync(
                    () -> {
                        try (StreamResponse<ChatCompletionChunk> s =
                                streaming.chat().completions().createStreaming(endless())) {
                            s.stream().findFirst();
                            Thread.sleep(1500);
                            return new IllegalStateException("closed after its first chunk");
                        } catch (RuntimeException | InterruptedException e) {
                            return e;
                        }
                    },
                    clients));
        }
        for (CompletableFuture<Throwable> c : calls) {
            assertTrue(c.get(60, TimeUnit.SECONDS) != null, "a 16k-token request ended within its client's patience");
        }
        clients.shutdown();
        Thread.sleep(1000);
        assertEquals(
                0,
                Http.metric(pd.url(), "vllm:num_requests_running"),
                "running on the node 1 s after the clients left; abandoned there: "
                        + (Http.metric(pd.url(), "jepd:requests_abandoned_total") - abandonedBefore));
        assertEquals(0, Http.metric(pd.url(), "vllm:num_requests_waiting"), "waiting 1 s after the clients left");
        assertTrue(
                Http.metric(pd.url(), "jepd:requests_abandoned_total") - abandonedBefore >= 8,
                "the 8 non-streaming requests are counted abandoned at the node");
    }
}
