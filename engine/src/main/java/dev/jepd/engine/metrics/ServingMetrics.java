package dev.jepd.engine.metrics;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.undertow.server.HttpHandler;
import io.undertow.util.Headers;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.function.DoubleSupplier;

/** One process's metrics registry, labelled with the served model name as vLLM does. */
public final class ServingMetrics {
    private static final double[] LATENCY_BUCKETS = {
        0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0
    };

    private final PrometheusRegistry registry = new PrometheusRegistry();
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

    public ServingMetrics(String modelName) {
        this.model = modelName;
        ttft = Histogram.builder()
                .name("vllm:time_to_first_token_seconds")
                .help("Histogram of time to first token in seconds.")
                .labelNames("model_name")
                .classicUpperBounds(LATENCY_BUCKETS)
                .register(registry);
        itl = Histogram.builder()
                .name("vllm:inter_token_latency_seconds")
                .help("Histogram of inter-token latency in seconds.")
                .labelNames("model_name")
                .classicUpperBounds(LATENCY_BUCKETS)
                .register(registry);
        e2e = Histogram.builder()
                .name("vllm:e2e_request_latency_seconds")
                .help("Histogram of end to end request latency in seconds.")
                .labelNames("model_name")
                .classicUpperBounds(LATENCY_BUCKETS)
                .register(registry);
        promptTokens = Counter.builder()
                .name("vllm:prompt_tokens")
                .help("Number of prefill tokens processed.")
                .labelNames("model_name")
                .register(registry);
        generationTokens = Counter.builder()
                .name("vllm:generation_tokens")
                .help("Number of generation tokens processed.")
                .labelNames("model_name")
                .register(registry);
        requestSuccess = Counter.builder()
                .name("vllm:request_success")
                .help("Count of successfully processed requests.")
                .labelNames("model_name", "finished_reason")
                .register(registry);
        ecHits = Counter.builder()
                .name("jepd:ec_hits")
                .help("Encoder-cache lookups that found a usable embedding.")
                .labelNames("model_name")
                .register(registry);
        ecMisses = Counter.builder()
                .name("jepd:ec_misses")
                .help("Encoder-cache lookups that found nothing usable (the image was encoded locally).")
                .labelNames("model_name")
                .register(registry);
        ecSaves = Counter.builder()
                .name("jepd:ec_saves")
                .help("Embeddings written to the encoder cache.")
                .labelNames("model_name")
                .register(registry);
        encodedImages = Counter.builder()
                .name("jepd:encoded_images")
                .help("Images run through the local vision tower.")
                .labelNames("model_name")
                .register(registry);
    }

    /** Gauges read at scrape time (running and waiting requests, KV usage). */
    public void gauge(String name, String help, DoubleSupplier value) {
        Gauge g = Gauge.builder().name(name).help(help).labelNames("model_name").register(registry);
        // Prometheus' Gauge has no callback form in the core API; refresh it before every scrape instead.
        callbacks = append(callbacks, () -> g.labelValues(model).set(value.getAsDouble()));
    }

    private Runnable[] callbacks = new Runnable[0];

    private static Runnable[] append(Runnable[] a, Runnable r) {
        Runnable[] out = java.util.Arrays.copyOf(a, a.length + 1);
        out[a.length] = r;
        return out;
    }

    public void timeToFirstToken(double seconds) {
        ttft.labelValues(model).observe(seconds);
    }

    public void interTokenLatency(double seconds) {
        itl.labelValues(model).observe(seconds);
    }

    public void e2eLatency(double seconds) {
        e2e.labelValues(model).observe(seconds);
    }

    public void promptTokens(long n) {
        promptTokens.labelValues(model).inc(n);
    }

    public void generationTokens(long n) {
        generationTokens.labelValues(model).inc(n);
    }

    public void requestSuccess(String finishedReason) {
        requestSuccess.labelValues(model, finishedReason).inc();
    }

    public void ecHit() {
        ecHits.labelValues(model).inc();
    }

    public void ecMiss() {
        ecMisses.labelValues(model).inc();
    }

    public void ecSave() {
        ecSaves.labelValues(model).inc();
    }

    public void encodedImages(long n) {
        encodedImages.labelValues(model).inc(n);
    }

    /** The text exposition format. */
    public String scrape() {
        for (Runnable r : callbacks) {
            r.run();
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            new PrometheusTextFormatWriter(false).write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** {@code GET /metrics}. */
    public HttpHandler handler() {
        return ex -> {
            ex.getResponseHeaders().put(Headers.CONTENT_TYPE, PrometheusTextFormatWriter.CONTENT_TYPE);
            ex.getResponseSender().send(scrape(), StandardCharsets.UTF_8);
        };
    }
}
