package dev.jepd.encoder;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.HttpServer;
import dev.jepd.api.Json;
import dev.jepd.api.ServedModels;
import dev.jepd.engine.text.FinishReason;
import dev.jepd.media.PixelBounds;
import dev.jepd.serving.MultimodalInputs;
import dev.jepd.serving.RequestParser;
import dev.jepd.serving.Responses;
import dev.jepd.serving.ServingMetrics;
import io.undertow.server.HttpServerExchange;
import java.util.List;
import java.util.UUID;

/**
 * The encoder node's routes. {@code /v1/chat/completions} encodes every image item (skipping keys already
 * in the cache), writes the EC files, then answers a one-token completion with {@code finish_reason
 * "length"}; the EC keys it wrote are listed under {@code jepd.ec} for observability.
 */
public final class EncoderServer implements AutoCloseable {
    private final MultimodalInputs inputs;
    private final ServedModels served;
    private final long maxBodyBytes;
    private final HttpServer http;

    public EncoderServer(
            MultimodalInputs inputs,
            ServingMetrics metrics,
            List<String> servedNames,
            String modelRoot,
            int maxModelLen,
            HttpServer.Builder server,
            long maxBodyBytes) {
        this.inputs = inputs;
        this.served = new ServedModels(servedNames);
        this.maxBodyBytes = maxBodyBytes;
        this.http = server.get("/health", ex -> ex.setStatusCode(200))
                .get("/metrics", metrics.handler())
                .get("/v1/models", ex -> Json.send(ex, 200, Responses.models(served.first(), modelRoot, maxModelLen)))
                .post("/v1/chat/completions", this::encode)
                .post("/start_profile", ex -> ex.setStatusCode(200))
                .post("/stop_profile", ex -> ex.setStatusCode(200))
                .start();
    }

    public int port() {
        return http.port();
    }

    private void encode(HttpServerExchange ex) {
        ObjectNode body = Json.readObject(ex, maxBodyBytes);
        RequestParser.Chat c = RequestParser.chat(body);
        String model = served.resolve(c.model());
        PixelBounds bounds = inputs.bounds(c.mmProcessorKwargs());
        List<MultimodalInputs.Item> items = inputs.load(c.images(), c.hasProcessorKwargs(), bounds);
        List<MultimodalInputs.Produced> produced = inputs.produce(items, bounds);
        int imageTokens = produced.stream().mapToInt(p -> p.grid().tokens()).sum();
        String given = ex.getRequestHeaders().getFirst(HttpServer.REQUEST_ID);
        String id = "chatcmpl-"
                + (given != null ? given : UUID.randomUUID().toString().replace("-", ""));
        Responses r = new Responses(id, model, true);
        ObjectNode out = r.complete("", FinishReason.LENGTH.wireName(), null, imageTokens, 1, null);
        ArrayNode ec = out.putObject("jepd").putArray("ec");
        for (MultimodalInputs.Produced p : produced) {
            ec.addObject().put("key", p.key()).put("tokens", p.grid().tokens()).put("computed", p.computed());
        }
        Json.send(ex, 200, out);
    }

    @Override
    public void close() {
        http.close();
    }
}
