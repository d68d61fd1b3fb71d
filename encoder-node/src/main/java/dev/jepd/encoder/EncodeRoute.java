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
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.util.List;

/**
 * {@code POST /v1/chat/completions} on an encoder node: encodes every image item (skipping keys already in the
 * cache), writes the EC files, then answers a one-token completion with {@code finish_reason "length"}; the EC
 * keys it wrote are listed under {@code jepd.ec} for observability.
 */
final class EncodeRoute implements HttpHandler {
    private final ServedModels served;
    private final long maxBodyBytes;
    private final MultimodalInputs inputs;
    private final EncoderRunner runner;

    EncodeRoute(ServedModels served, long maxBodyBytes, MultimodalInputs inputs, EncoderRunner runner) {
        this.served = served;
        this.maxBodyBytes = maxBodyBytes;
        this.inputs = inputs;
        this.runner = runner;
    }

    @Override
    public void handleRequest(HttpServerExchange ex) {
        RequestParser.Chat c = RequestParser.chat(Json.readObject(ex, maxBodyBytes));
        String model = served.resolve(c.model());
        PixelBounds bounds = inputs.bounds(c.mmProcessorKwargs());
        List<MultimodalInputs.Item> items = inputs.load(c.images(), c.hasProcessorKwargs(), bounds);
        List<EncoderRunner.Produced> produced = runner.produce(items, bounds);
        int imageTokens = produced.stream().mapToInt(p -> p.grid().numTokens()).sum();
        String id = "chatcmpl-" + HttpServer.requestId(ex);
        Responses r = new Responses(id, model, true);
        ObjectNode out = r.complete("", FinishReason.LENGTH.wireName(), null, imageTokens, 1, null);
        ArrayNode ec = out.putObject("jepd").putArray("ec");
        for (EncoderRunner.Produced p : produced) {
            ec.addObject()
                    .put("key", p.key())
                    .put("tokens", p.grid().numTokens())
                    .put("computed", p.computed());
        }
        // What a point-to-point connector published, keyed by item, for the proxy to copy to the PD request
        // verbatim (vLLM's consumers read params.get(mm_hash)); shared storage publishes nothing, so nothing is added.
        ObjectNode params = Json.MAPPER.createObjectNode();
        for (EncoderRunner.Produced p : produced) {
            if (!p.params().isNone()) {
                params.set(p.key(), Json.MAPPER.valueToTree(p.params()));
            }
        }
        if (!params.isEmpty()) {
            out.set("ec_transfer_params", params);
        }
        Json.send(ex, 200, out);
    }
}
