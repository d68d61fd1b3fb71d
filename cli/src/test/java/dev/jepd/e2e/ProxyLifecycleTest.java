package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The proxy as a real process drains on SIGTERM as the nodes do: requests in flight through it finish, a new
 * request (and {@code /health}) gets 503 OpenAI JSON with {@code Retry-After}, and it exits 0. Its decode node is
 * an in-test loopback server that takes 5 s for each answer.
 */
class ProxyLifecycleTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long ANSWER_MILLIS = 5000;
    private static final String BODY =
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}";

    @Test
    void sigtermLetsRequestsInFlightFinishRefusesNewOnesAndExitsZero() throws Exception {
        AtomicInteger started = new AtomicInteger();
        HttpServer decode = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        decode.setExecutor(Executors.newCachedThreadPool());
        decode.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            byte[] out;
            if (ex.getRequestURI().getPath().equals("/health")) {
                out = new byte[0];
            } else {
                started.incrementAndGet();
                try {
                    Thread.sleep(ANSWER_MILLIS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                out = ("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\","
                                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},"
                                + "\"finish_reason\":\"stop\"}],"
                                + "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}")
                        .getBytes(StandardCharsets.UTF_8);
            }
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, out.length == 0 ? -1 : out.length);
            if (out.length > 0) {
                ex.getResponseBody().write(out);
            }
            ex.close();
        });
        decode.start();
        NodeProcess proxy = NodeProcess.start(
                "proxy-drain",
                "dev.jepd.proxy.ProxyMain",
                List.of(
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "0",
                        "--decode-servers-urls",
                        "http://127.0.0.1:" + decode.getAddress().getPort(),
                        "--shutdown-timeout",
                        "60"));
        try {
            HttpClient client =
                    HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            List<CompletableFuture<HttpResponse<String>>> running = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                running.add(client.sendAsync(chat(proxy), HttpResponse.BodyHandlers.ofString()));
            }
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (started.get() < 4 && System.nanoTime() < end) {
                Thread.sleep(10);
            }
            assertEquals(4, started.get(), "all 4 reached the decode node before SIGTERM");
            long signalled = System.nanoTime();
            proxy.terminate();

            // Short probes: one sent before the signal is handled is proxied (and abandoned after 500 ms).
            HttpResponse<String> refused = refused(client, chat(proxy, Duration.ofMillis(500)));
            assertEquals(503, refused.statusCode(), refused.body());
            assertTrue(refused.headers().firstValue("Retry-After").isPresent(), "Retry-After");
            JsonNode error = JSON.readTree(refused.body()).path("error");
            assertEquals(503, error.path("code").asInt(), refused.body());
            HttpResponse<String> health = refused(
                    client,
                    HttpRequest.newBuilder(URI.create(proxy.url() + "/health"))
                            .timeout(Duration.ofMillis(500))
                            .GET()
                            .build());
            assertEquals(503, health.statusCode(), "/health while draining: " + health.body());

            for (CompletableFuture<HttpResponse<String>> f : running) {
                HttpResponse<String> r = f.get(60, TimeUnit.SECONDS);
                assertEquals(200, r.statusCode(), r.body());
                assertEquals(
                        "ok",
                        JSON.readTree(r.body()).at("/choices/0/message/content").asText());
            }
            assertEquals(0, proxy.waitFor(30), "exit status after a graceful drain");
            assertTrue(
                    System.nanoTime() - signalled < TimeUnit.SECONDS.toNanos(30),
                    "exits once drained, not at --shutdown-timeout");
        } finally {
            proxy.close();
            decode.stop(0);
        }
    }

    private static HttpRequest chat(NodeProcess proxy) {
        return chat(proxy, Duration.ofSeconds(60));
    }

    private static HttpRequest chat(NodeProcess proxy, Duration timeout) {
        return HttpRequest.newBuilder(URI.create(proxy.url() + "/v1/chat/completions"))
                .timeout(timeout)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(BODY))
                .build();
    }

    /** Sends until the proxy answers 503 (the drain starts a moment after the signal). */
    private static HttpResponse<String> refused(HttpClient client, HttpRequest request) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        HttpResponse<String> r = null;
        while (System.nanoTime() < end) {
            try {
                r = client.send(request, HttpResponse.BodyHandlers.ofString());
            } catch (java.net.http.HttpTimeoutException e) {
                continue; // sent before the drain began
            }
            if (r.statusCode() == 503) {
                return r;
            }
            Thread.sleep(20);
        }
        return r;
    }
}
