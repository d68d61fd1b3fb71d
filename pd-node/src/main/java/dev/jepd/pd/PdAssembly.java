package dev.jepd.pd;

import dev.jepd.api.HttpServer;
import dev.jepd.api.Json;
import dev.jepd.api.ServedModels;
import dev.jepd.engine.connector.EcConnector;
import dev.jepd.engine.generate.EngineClient;
import dev.jepd.engine.generate.EngineCore;
import dev.jepd.serving.MultimodalInputs;
import dev.jepd.serving.NodeContext;
import dev.jepd.serving.NodeRole;
import dev.jepd.serving.ServingMetrics;
import java.io.IOException;
import java.util.List;

/**
 * The PD node put together in one place: the engine thread, the KV hand-off, the node's metrics and the
 * handler chain. Routes see the engine only as an {@link EngineClient}.
 */
public final class PdAssembly {
    private PdAssembly() {}

    /**
     * Starts the KV side channel (when the role has a KV part), the engine thread and the HTTP server.
     * {@code listenHost} is where the side channel listens too.
     */
    public static PdNode start(
            NodeRole.PrefillDecode role, NodeContext ctx, HttpServer.Builder server, String listenHost)
            throws IOException {
        EngineCore core = ctx.runtime().engine();
        PdKvTransfer kvTransfer =
                role.kv().isPresent() ? PdKvTransfer.start(role.kv().get(), core, listenHost) : null;
        try {
            EcConnector ec = role.consumer().or(role::producer).orElse(null);
            MultimodalInputs inputs =
                    ctx.inputs(ec, role.consumer().isPresent(), role.producer().isPresent());
            EngineLoop loop = new EngineLoop(core);
            KvHandoffs kv = kvTransfer == null ? KvHandoffs.disabled() : new KvHandoffs(kvTransfer, core::heldBlockIds);
            registerGauges(ctx.metrics(), loop, kv, kvTransfer);
            HttpServer http = routes(
                    server,
                    loop,
                    PromptPreparer.of(ctx.runtime()),
                    InputResolver.ecFirst(inputs),
                    kv,
                    ctx.metrics(),
                    ctx.servedNames(),
                    ctx.modelString(),
                    ctx.maxBodyBytes());
            return new PdNode(http, loop, kvTransfer);
        } catch (RuntimeException e) {
            if (kvTransfer != null) {
                kvTransfer.close();
            }
            throw e;
        }
    }

    /** The handler chain over any engine client (the tests use a fake one). */
    static HttpServer routes(
            HttpServer.Builder server,
            EngineClient engine,
            PromptPreparer prompts,
            InputResolver inputs,
            KvHandoffs kv,
            ServingMetrics metrics,
            List<String> servedNames,
            String modelRoot,
            long maxBodyBytes) {
        ServedModels served = new ServedModels(servedNames);
        GenerationRunner runner = new GenerationRunner(engine, kv, metrics);
        return server.get("/health", ex -> ex.setStatusCode(200))
                .get(
                        "/version",
                        ex -> Json.send(ex, 200, Json.MAPPER.createObjectNode().put("version", "jepd 0.1.0")))
                .get("/metrics", metrics.handler())
                .get("/v1/models", new ModelsRoute(servedNames.getFirst(), modelRoot, engine))
                .post("/v1/chat/completions", new ChatRoute(served, maxBodyBytes, inputs, prompts, runner))
                .post("/v1/completions", new CompletionRoute(served, maxBodyBytes, prompts, runner))
                .post("/start_profile", ex -> ex.setStatusCode(200))
                .post("/stop_profile", ex -> ex.setStatusCode(200))
                .start();
    }

    private static void registerGauges(
            ServingMetrics metrics, EngineLoop loop, KvHandoffs kv, PdKvTransfer kvTransfer) {
        EngineCore core = loop.core();
        metrics.gauge("vllm:num_requests_running", "Number of requests in model execution batches.", core::numRunning);
        metrics.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", core::numWaiting);
        metrics.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", core::kvUsage);
        metrics.gauge(
                "jepd:num_requests_aborted",
                "Requests aborted because their client went away (their KV blocks were freed).",
                () -> core.stats().aborted());
        metrics.gauge(
                "jepd:peak_num_requests_running",
                "Most requests that ran together in one engine step since start (continuous batching at work).",
                loop::maxRunningSeen);
        metrics.gauge(
                "jepd:kv_blocks_held",
                "KV blocks a prefill node holds for decode nodes (until confirmed or their lease expires).",
                core::heldBlocks);
        metrics.gauge(
                "jepd:kv_leases_confirmed_total",
                "Held prompts freed because their decode node confirmed its copy.",
                () -> core.leases().releasedTotal());
        metrics.gauge(
                "jepd:kv_leases_expired_total",
                "Held prompts freed because no decode node confirmed them within the lease.",
                () -> core.leases().expiredTotal());
        metrics.gauge(
                "jepd:kv_remote_prefill_tokens_total",
                "Prompt tokens whose KV a decode node loaded from a prefill node instead of computing.",
                () -> core.stats().remoteKvTokens());
        metrics.gauge(
                "jepd:kv_nixl_pulls_total",
                "KV pulls this decode node read with NIXL (the rest, if any, went over JEPD's TCP side channel).",
                () -> kvTransfer == null ? 0 : kvTransfer.nixlPulls());
        metrics.gauge(
                "jepd:kv_transfer_failures_total",
                "KV pulls from a prefill node that failed (answered with an error, or recomputed by policy).",
                kv::failures);
    }
}
