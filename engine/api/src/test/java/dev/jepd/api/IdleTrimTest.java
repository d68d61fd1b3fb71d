package dev.jepd.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The idle hook that gives native memory back after work: when it runs, and that it runs on a real server. */
class IdleTrimTest {
    @Test
    void trimsOnceAfterWorkWhenNothingCompletedForAnIntervalAndNothingIsInFlight() {
        AtomicInteger inFlight = new AtomicInteger();
        AtomicLong completed = new AtomicLong();
        AtomicInteger trims = new AtomicInteger();
        try (IdleTrim t =
                IdleTrim.start(inFlight::get, completed::get, trims::incrementAndGet, Duration.ofHours(1), "test")) {
            t.check();
            assertEquals(0, trims.get(), "no work yet: nothing to give back");
            completed.addAndGet(64);
            t.check();
            assertEquals(0, trims.get(), "requests completed during the last interval: not idle yet");
            inFlight.set(1);
            t.check();
            assertEquals(0, trims.get(), "one in flight: not idle");
            inFlight.set(0);
            t.check();
            assertEquals(1, trims.get(), "quiet for an interval after 64 requests: trimmed");
            t.check();
            t.check();
            assertEquals(1, trims.get(), "once per burst");
            completed.incrementAndGet();
            t.check();
            t.check();
            assertEquals(2, trims.get());
            assertEquals(2, t.trims());
        }
    }

    @Test
    void trimsOnceMoreWhenStillIdleAfterTheSecondPassAndNotAgain() {
        AtomicInteger inFlight = new AtomicInteger();
        AtomicLong completed = new AtomicLong();
        AtomicInteger trims = new AtomicInteger();
        AtomicLong now = new AtomicLong();
        long second = Duration.ofSeconds(15).toNanos();
        try (IdleTrim t = IdleTrim.start(
                inFlight::get,
                completed::get,
                trims::incrementAndGet,
                Duration.ofHours(1),
                Duration.ofNanos(second),
                now::get,
                "test")) {
            completed.addAndGet(64);
            t.check();
            t.check();
            assertEquals(1, trims.get(), "the first trim");
            now.addAndGet(second - 1);
            t.check();
            assertEquals(1, trims.get(), "not yet the second pass");
            now.addAndGet(1);
            t.check();
            assertEquals(2, trims.get(), "still idle a second pass later: trimmed once more");
            now.addAndGet(10 * second);
            t.check();
            t.check();
            assertEquals(2, trims.get(), "two per burst, no more");

            completed.incrementAndGet(); // a new burst: its first trim, then a request before its second pass
            t.check();
            t.check();
            assertEquals(3, trims.get());
            now.addAndGet(second / 2);
            completed.incrementAndGet();
            t.check();
            now.addAndGet(second);
            inFlight.set(1);
            t.check();
            assertEquals(3, trims.get(), "work since, and one in flight: neither pass");
            inFlight.set(0);
            t.check();
            assertEquals(4, trims.get(), "the newer work's first trim");
            now.addAndGet(second);
            t.check();
            assertEquals(5, trims.get(), "and its second pass");
        }
    }

    @Test
    void aServerTrimsAfterApiRequestsButNotAfterHealthProbes() throws Exception {
        AtomicInteger trims = new AtomicInteger();
        HttpServer server = HttpServer.builder("trim")
                .port(0)
                .trimWhenIdle(Duration.ofMillis(100))
                .trim(trims::incrementAndGet)
                .get("/health", ex -> Json.send(ex, 200, Json.MAPPER.createObjectNode()))
                .post("/v1/echo", ex -> Json.send(ex, 200, Json.readObject(ex, 1 << 20)))
                .start();
        try {
            HttpClient client = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + server.port();
            for (int i = 0; i < 5; i++) {
                client.send(
                        HttpRequest.newBuilder(URI.create(base + "/health")).build(),
                        HttpResponse.BodyHandlers.ofString());
            }
            Thread.sleep(500);
            assertEquals(0, trims.get(), "health probes are not work");
            for (int i = 0; i < 3; i++) {
                client.send(
                        HttpRequest.newBuilder(URI.create(base + "/v1/echo"))
                                .POST(HttpRequest.BodyPublishers.ofString("{\"a\":1}"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
            }
            long end = System.nanoTime() + 10_000_000_000L;
            while (trims.get() == 0 && System.nanoTime() < end) {
                Thread.sleep(20);
            }
            assertEquals(1, trims.get(), "trimmed once the API requests were over");
            assertEquals(1, server.idleTrims());
            assertEquals(3, server.apiRequestsCompleted());
        } finally {
            server.close();
        }
    }
}
