package dev.jepd.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Shutdown drains: running requests finish, new ones get 503 JSON with Retry-After. */
class DrainTest {
    @Test
    void runningRequestsFinishAndNewOnesGet503WithRetryAfter() throws Exception {
        CountDownLatch started = new CountDownLatch(3);
        CountDownLatch release = new CountDownLatch(1);
        HttpServer server = HttpServer.builder("drain")
                .port(0)
                .get("/slow", ex -> {
                    started.countDown();
                    release.await(20, TimeUnit.SECONDS);
                    Json.send(ex, 200, Json.MAPPER.createObjectNode().put("done", true));
                })
                .get("/health", ex -> ex.setStatusCode(200))
                .start();
        HttpClient client = HttpClient.newHttpClient();
        String base = "http://127.0.0.1:" + server.port();
        var running = new java.util.ArrayList<CompletableFuture<HttpResponse<String>>>();
        for (int i = 0; i < 3; i++) {
            running.add(client.sendAsync(
                    HttpRequest.newBuilder(URI.create(base + "/slow")).build(), HttpResponse.BodyHandlers.ofString()));
        }
        assertTrue(started.await(10, TimeUnit.SECONDS));
        Thread drainer = Thread.ofPlatform().start(() -> server.shutdown(30_000));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!server.draining() && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        HttpResponse<String> refused = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create(base + "/health")).build(),
                        HttpResponse.BodyHandlers.ofString());
        assertEquals(503, refused.statusCode());
        assertTrue(refused.headers().firstValue("Retry-After").isPresent());
        JsonNode e = Json.MAPPER.readTree(refused.body()).path("error");
        assertEquals(503, e.path("code").asInt());
        assertEquals(3, server.inFlight());
        release.countDown();
        for (var r : running) {
            assertEquals(200, r.get(20, TimeUnit.SECONDS).statusCode());
        }
        drainer.join(20_000);
        assertEquals(0, server.inFlight());
    }
}
