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
import dev.jepd.serving.ServingLimits;
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
                role.kv().isPresent() ? PdKvTransfer.start(role.kv().get(), core, listenHost, ctx.modelString()) : null;
        try {
            EcConnector ec = role.consumer().or(role::producer).orElse(null);
            MultimodalInputs inputs =
                    ctx.inputs(ec, role.consumer().isPresent(), role.producer().isPresent());
            EngineLoop loop = new EngineLoop(core);
            KvHandoffs kv = kvTransfer == null ? KvHandoffs.disabled() : new KvHandoffs(kvTransfer, core::heldBlockIds);
            registerMetrics(ctx.metrics(), loop, kv, kvTransfer);
            HttpServer http = routes(
                    server,
                    loop,
                    PromptPreparer.of(ctx.runtime()),
                    InputResolver.ecFirst(inputs),
                    kv,
                    ctx.metrics(),
                    ctx.servedNames(),
                    ctx.modelString(),
                    ctx.maxBodyBytes(),
                    ctx.limits());
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
            long maxBodyBytes,
            ServingLimits limits) {
        ServedModels served = new ServedModels(servedNames);
        GenerationRunner runner = new GenerationRunner(engine, kv, metrics, limits);
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

    private static void registerMetrics(
            ServingMetrics metrics, EngineLoop loop, KvHandoffs kv, PdKvTransfer kvTransfer) {
        metrics.engine(loop.core(), loop::maxRunningSeen);
        metrics.kvTransfer(
                () -> kvTransfer == null ? 0 : kvTransfer.nixlPulls(),
                () -> kvTransfer == null ? 0 : kvTransfer.directPulls(),
                () -> kvTransfer == null ? 0 : kvTransfer.stagedCopies(),
                kv::failures);
        if (kvTransfer != null && kvTransfer.speaksVllm()) {
            var v = kvTransfer.vllmProducer();
            metrics.gauge(
                    "jepd:kv_vllm_held_requests",
                    "Prompts this prefill node holds in vLLM's KV layout for vLLM decode nodes (side_channel vllm).",
                    v::heldRequests);
            metrics.counter(
                    "jepd:kv_vllm_released",
                    "Held prompts freed by a vLLM decode node's NIXL notification.",
                    v::released);
            metrics.counter(
                    "jepd:kv_vllm_expired",
                    "Held prompts freed because no vLLM decode node read them within the lease.",
                    v::expired);
            metrics.counter(
                    "jepd:kv_vllm_lease_renewals",
                    "Held prompts whose lease a vLLM decode node's heartbeat renewed (wire version 12), per heartbeat.",
                    v::renewed);
        }
    }
}
