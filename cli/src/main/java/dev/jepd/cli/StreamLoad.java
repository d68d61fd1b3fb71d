package dev.jepd.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * A closed-loop streaming load, measured the way {@code vllm bench serve} measures: TTFT at the first chunk
 * with non-empty choices content, ITL between content chunks, TPOT = (e2e − TTFT) / (output tokens − 1).
 */
final class StreamLoad {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient CLIENT = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10))
            .build();

    /** One request's timings in seconds. */
    record Sample(double ttft, double e2e, int outputTokens, List<Double> itl, boolean ok, String error) {
        double tpot() {
            return outputTokens > 1 ? (e2e - ttft) / (outputTokens - 1) : 0;
        }
    }

    /** Aggregates of one run. */
    record Result(
            int concurrency,
            int requests,
            int failed,
            double seconds,
            double requestsPerSecond,
            double outputTokensPerSecond,
            double[] ttft,
            double[] tpot,
            double[] itl,
            double[] e2e) {
        /** {mean, p50, p99} in milliseconds. */
        static double[] stats(List<Double> xs) {
            if (xs.isEmpty()) {
                return new double[] {0, 0, 0};
            }
            double[] a = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            double mean = Arrays.stream(a).average().orElse(0);
            return new double[] {mean * 1e3, percentile(a, 50) * 1e3, percentile(a, 99) * 1e3};
        }

        static double percentile(double[] sorted, double p) {
            double rank = p / 100 * (sorted.length - 1);
            int lo = (int) Math.floor(rank);
            int hi = (int) Math.ceil(rank);
            return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
        }
    }

    private StreamLoad() {}

    /** Sends {@code n} streaming chat requests ({@code body(i)}) to {@code url} with {@code concurrency} in flight. */
    static Result run(String url, int n, int concurrency, IntFunction<String> body) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        long start = System.nanoTime();
        List<Future<Sample>> futures = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int k = i;
            futures.add(pool.submit(() -> one(url, body.apply(k))));
        }
        List<Sample> samples = new ArrayList<>();
        for (Future<Sample> f : futures) {
            samples.add(f.get());
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        pool.shutdown();
        List<Sample> ok = samples.stream().filter(Sample::ok).toList();
        long tokens = ok.stream().mapToLong(Sample::outputTokens).sum();
        List<Double> itl = new ArrayList<>();
        ok.forEach(s -> itl.addAll(s.itl()));
        return new Result(
                concurrency,
                n,
                samples.size() - ok.size(),
                seconds,
                ok.size() / seconds,
                tokens / seconds,
                Result.stats(ok.stream().map(Sample::ttft).toList()),
                Result.stats(ok.stream().map(Sample::tpot).toList()),
                Result.stats(itl),
                Result.stats(ok.stream().map(Sample::e2e).toList()));
    }

    static Sample one(String url, String body) {
        long sent = System.nanoTime();
        try {
            HttpResponse<java.io.InputStream> r = CLIENT.send(
                    HttpRequest.newBuilder(URI.create(url))
                            .timeout(Duration.ofMinutes(10))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(body))
                            .build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            if (r.statusCode() != 200) {
                return new Sample(0, 0, 0, List.of(), false, "HTTP " + r.statusCode());
            }
            long first = 0;
            long last = 0;
            int tokens = 0;
            List<Double> itl = new ArrayList<>();
            try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    if (!line.startsWith("data: {")) {
                        continue;
                    }
                    JsonNode chunk = JSON.readTree(line.substring(6));
                    if (chunk.has("error")) {
                        return new Sample(
                                0, 0, 0, List.of(), false, chunk.get("error").toString());
                    }
                    if (chunk.path("usage").has("completion_tokens")) {
                        tokens = chunk.path("usage").path("completion_tokens").asInt();
                    }
                    String text = chunk.at("/choices/0/delta/content").asText("");
                    if (!text.isEmpty()) {
                        long now = System.nanoTime();
                        if (first == 0) {
                            first = now;
                        } else {
                            itl.add((now - last) / 1e9);
                        }
                        last = now;
                    }
                }
            }
            long done = System.nanoTime();
            return new Sample((first - sent) / 1e9, (done - sent) / 1e9, tokens, itl, first != 0, null);
        } catch (Exception e) {
            return new Sample(0, 0, 0, List.of(), false, e.toString());
        }
    }
}
