package dev.jepd.serving;

import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.Gauge;
import io.prometheus.client.Histogram;
import io.prometheus.client.exporter.common.TextFormat;
import io.undertow.server.HttpHandler;
import io.undertow.util.Headers;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.DoubleSupplier;

/** One process's metrics registry, labelled with the served model name as vLLM does. */
public final class ServingMetrics {
    private static final double[] LATENCY_BUCKETS = {
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0
    };

    private final CollectorRegistry registry = new CollectorRegistry();
    private final String model;
    private final Histogram ttft;
    private final Histogram itl;
    private final Histogram e2e;
    private final Counter promptTokens;
    private final Counter generationTokens;
    private final Counter requestSuccess;
    private final Counter ecHits;
    private final Counter ecMisses;
    private final Counter ecSaves;
    private final Counter encodedImages;
    // Gauges read at scrape time: the client has no callback gauge, so each is refreshed before a scrape.
    private final List<Runnable> refreshers = new CopyOnWriteArrayList<>();

    public ServingMetrics(String modelName) {
        this.model = modelName;
        ttft = histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.");
        itl = histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.");
        e2e = histogram("vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.");
        promptTokens = counter("vllm:prompt_tokens", "Number of prefill tokens processed.");
        generationTokens = counter("vllm:generation_tokens", "Number of generation tokens processed.");
        requestSuccess = Counter.build()
                .name("vllm:request_success")
                .help("Count of successfully processed requests.")
                .labelNames("model_name", "finished_reason")
                .register(registry);
        ecHits = counter("jepd:ec_hits", "Encoder-cache lookups that found a usable embedding.");
        ecMisses = counter("jepd:ec_misses", "Encoder-cache lookups that found nothing usable (encoded locally).");
        ecSaves = counter("jepd:ec_saves", "Embeddings written to the encoder cache.");
        encodedImages = counter("jepd:encoded_images", "Images run through the local vision tower.");
    }

    private Histogram histogram(String name, String help) {
        return Histogram.build()
                .name(name)
                .help(help)
                .labelNames("model_name")
                .buckets(LATENCY_BUCKETS)
                .register(registry);
    }

    private Counter counter(String name, String help) {
        return Counter.build().name(name).help(help).labelNames("model_name").register(registry);
    }

    /** A gauge whose value is read when scraped (running and waiting requests, KV usage). */
    public void gauge(String name, String help, DoubleSupplier value) {
        Gauge g = Gauge.build().name(name).help(help).labelNames("model_name").register(registry);
        refreshers.add(() -> g.labels(model).set(value.getAsDouble()));
    }

    public void timeToFirstToken(double seconds) {
        ttft.labels(model).observe(seconds);
    }

    public void interTokenLatency(double seconds) {
        itl.labels(model).observe(seconds);
    }

    public void e2eLatency(double seconds) {
        e2e.labels(model).observe(seconds);
    }

    public void promptTokens(long n) {
        promptTokens.labels(model).inc(n);
    }

    public void generationTokens(long n) {
        generationTokens.labels(model).inc(n);
    }

    public void requestSuccess(String finishedReason) {
        requestSuccess.labels(model, finishedReason).inc();
    }

    public void ecHit() {
        ecHits.labels(model).inc();
    }

    public void ecMiss() {
        ecMisses.labels(model).inc();
    }

    public void ecSave() {
        ecSaves.labels(model).inc();
    }

    public void encodedImages(long n) {
        encodedImages.labels(model).inc(n);
    }

    /** The Prometheus text exposition format 0.0.4. */
    public String scrape() {
        refreshers.forEach(Runnable::run);
        StringWriter out = new StringWriter();
        try {
            TextFormat.write004(out, registry.metricFamilySamples());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    /** {@code GET /metrics}. */
    public HttpHandler handler() {
        return ex -> {
            ex.getResponseHeaders().put(Headers.CONTENT_TYPE, TextFormat.CONTENT_TYPE_004);
            ex.getResponseSender().send(scrape(), StandardCharsets.UTF_8);
        };
    }
}
