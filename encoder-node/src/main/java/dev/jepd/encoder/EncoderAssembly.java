package dev.jepd.encoder;

import dev.jepd.api.HttpServer;
import dev.jepd.api.Json;
import dev.jepd.api.ServedModels;
import dev.jepd.serving.MultimodalInputs;
import dev.jepd.serving.NodeContext;
import dev.jepd.serving.NodeRole;
import dev.jepd.serving.Responses;

/**
 * The encoder node put together in one place: the runner over the EC it produces into, and the handler chain.
 */
public final class EncoderAssembly {
    private EncoderAssembly() {}

    public static EncoderNode start(NodeRole.Encoder role, NodeContext ctx, HttpServer.Builder server) {
        // Loading and keying only: the encoder never reads embeddings back, so the inputs neither consume nor
        // produce; EncoderRunner writes the EC.
        MultimodalInputs inputs = ctx.inputs(role.producer(), false, false);
        EncoderRunner runner = new EncoderRunner(ctx.batcher(), role.producer(), ctx.metrics());
        ServedModels served = new ServedModels(ctx.servedNames());
        int maxModelLen = ctx.runtime().model().maxPositionEmbeddings();
        HttpServer http = server.get("/health", ex -> ex.setStatusCode(200))
                .get("/metrics", ctx.metrics().handler())
                .get(
                        "/v1/models",
                        ex -> Json.send(ex, 200, Responses.models(served.first(), ctx.modelString(), maxModelLen)))
                .post(
                        "/v1/chat/completions",
                        countSuccess(new EncodeRoute(served, ctx.maxBodyBytes(), inputs, runner), ctx))
                .post("/start_profile", ex -> ex.setStatusCode(200))
                .post("/stop_profile", ex -> ex.setStatusCode(200))
                .start();
        return new EncoderNode(http);
    }

    /** Each answered encode request counts in {@code vllm:request_success_total} (the proxy's dedup is seen there). */
    private static io.undertow.server.HttpHandler countSuccess(EncodeRoute route, NodeContext ctx) {
        return ex -> {
            route.handleRequest(ex);
            ctx.metrics().requestSuccess("length");
        };
    }
}
