package dev.jepd.serving;

import dev.jepd.engine.generate.EngineCore;
import io.prometheus.client.Collector;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.CounterMetricFamily;
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
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;

/**
 * One node's metrics, labelled with the served model name as vLLM does: the request histograms and counters
 * every node records, and the engine's and KV transfer's figures a PD node registers ({@link #engine},
 * {@link #kvTransfer}). Running totals are Prometheus counters (exposed as {@code name_total}); levels are
 * gauges.
 */
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
    private final Counter ecSaveFailures;
    private final Counter abandoned;
    private final Counter timedOut;
    private final Counter overloaded;
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
        ecSaveFailures = counter(
                "jepd:ec_save_failures", "Embeddings the encoder cache could not take (disk, permissions, capacity).");
        abandoned = counter("jepd:requests_abandoned", "Requests aborted because their client closed the connection.");
        timedOut = counter("jepd:requests_timed_out", "Requests aborted at their deadline (request_timeout).");
        overloaded = counter(
                "jepd:requests_overloaded", "Requests refused with 503 because --max-waiting-requests were queued.");
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

    /** {@code jepd:backend_info{backend=..., device=...} 1}: which libtorch, device and dtype serve this model. */
    public void backend(String name, String device) {
        Gauge.build()
                .name("jepd:backend_info")
                .help("The tensor backend: its library and version, device (with GPU name and CUDA version) and dtype.")
                .labelNames("model_name", "backend", "device")
                .register(registry)
                .labels(model, name, device)
                .set(1);
    }

    /** A gauge whose value is read when scraped (running and waiting requests, KV usage). */
    public void gauge(String name, String help, DoubleSupplier value) {
        Gauge g = Gauge.build().name(name).help(help).labelNames("model_name").register(registry);
        refreshers.add(() -> g.labels(model).set(value.getAsDouble()));
    }

    /**
     * A counter whose running total is kept elsewhere (the engine, a transfer client) and read when scraped.
     * {@code name} ends in {@code _total}, which is how it is exposed.
     */
    public void counter(String name, String help, DoubleSupplier total) {
        new Collector() {
            @Override
            public List<MetricFamilySamples> collect() {
                CounterMetricFamily family = new CounterMetricFamily(name, help, List.of("model_name"));
                family.addMetric(List.of(model), total.getAsDouble());
                return List.of(family);
            }
        }.register(registry);
    }

    /** A PD node's engine: batch, queue and KV cache levels, and the KV hand-off totals. */
    public void engine(EngineCore core, IntSupplier peakRunning) {
        gauge("vllm:num_requests_running", "Number of requests in model execution batches.", core::numRunning);
        gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", core::numWaiting);
        gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", core::kvUsage);
        // A running total, but a gauge since its first release: as a counter it would be renamed ..._total.
        gauge(
                "jepd:num_requests_aborted",
                "Requests aborted because their client went away (their KV blocks were freed).",
                () -> core.stats().aborted());
        gauge(
                "jepd:peak_num_requests_running",
                "Most requests that ran together in one engine step since start (continuous batching at work).",
                peakRunning::getAsInt);
        gauge(
                "jepd:kv_blocks_held",
                "KV blocks a prefill node holds for decode nodes (until confirmed or their lease expires).",
                core::heldBlocks);
        counter(
                "jepd:kv_leases_confirmed_total",
                "Held prompts freed because their decode node confirmed its copy.",
                () -> core.leases().releasedTotal());
        counter(
                "jepd:kv_leases_expired_total",
                "Held prompts freed because no decode node confirmed them within the lease.",
                () -> core.leases().expiredTotal());
        counter(
                "jepd:kv_remote_prefill_tokens_total",
                "Prompt tokens whose KV a decode node loaded from a prefill node instead of computing.",
                () -> core.stats().remoteKvTokens());
    }

    /**
     * A PD node's KV pulls (all zero on a node without --kv-transfer-config): NIXL pulls, those of them read
     * straight into the cache, staging copies this prefill node made, failures.
     */
    public void kvTransfer(
            LongSupplier nixlPulls, LongSupplier directPulls, LongSupplier stagedCopies, LongSupplier failures) {
        counter(
                "jepd:kv_nixl_pulls_total",
                "KV pulls this decode node read with NIXL (the rest, if any, went over JEPD's TCP side channel).",
                nixlPulls::getAsLong);
        counter(
                "jepd:kv_nixl_direct_pulls_total",
                "NIXL KV pulls this decode node read from the prefill node's registered cache straight into its own"
                        + " (the rest went through the prefill node's staging buffer).",
                directPulls::getAsLong);
        counter(
                "jepd:kv_nixl_staged_copies_total",
                "Held prompts this prefill node copied into its NIXL staging buffer for a decode node that could not"
                        + " read its cache in place.",
                stagedCopies::getAsLong);
        counter(
                "jepd:kv_transfer_failures_total",
                "KV pulls from a prefill node that failed (answered with an error, or recomputed by policy).",
                failures::getAsLong);
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

    public void ecSaveFailure() {
        ecSaveFailures.labels(model).inc();
    }

    public void requestAbandoned() {
        abandoned.labels(model).inc();
    }

    public void requestTimedOut() {
        timedOut.labels(model).inc();
    }

    public void requestOverloaded() {
        overloaded.labels(model).inc();
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
