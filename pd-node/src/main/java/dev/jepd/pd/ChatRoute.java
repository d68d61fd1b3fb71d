package dev.jepd.pd;

import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.api.ServedModels;
import dev.jepd.engine.generate.EngineRequest;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.KvHandoff;
import dev.jepd.engine.generate.RequestRejectedException;
import dev.jepd.engine.text.PromptException;
import dev.jepd.serving.EncodedImage;
import dev.jepd.serving.RequestParser;
import dev.jepd.serving.Responses;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import java.util.List;

/** {@code POST /v1/chat/completions}: messages and images to a prompt, then to the engine. */
final class ChatRoute implements HttpHandler {
    private final ServedModels served;
    private final long maxBodyBytes;
    private final InputResolver inputs;
    private final PromptPreparer prompts;
    private final GenerationRunner runner;
    private final ResponseIds ids = new ResponseIds("chatcmpl-");

    ChatRoute(
            ServedModels served,
            long maxBodyBytes,
            InputResolver inputs,
            PromptPreparer prompts,
            GenerationRunner runner) {
        this.served = served;
        this.maxBodyBytes = maxBodyBytes;
        this.inputs = inputs;
        this.prompts = prompts;
        this.runner = runner;
    }

    @Override
    public void handleRequest(HttpServerExchange ex) {
        long arrival = System.nanoTime();
        RequestParser.Chat c = RequestParser.chat(Json.readObject(ex, maxBodyBytes));
        String model = served.resolve(c.model());
        KvHandoff kv = runner.handoff(c.kvTransferParams(), c.stream());
        List<EncodedImage> encoded = inputs.resolve(c);
        String id = ids.responseId(ex);
        GenerationRequest request;
        try {
            request = prompts.chat(ids.engineId(id), c.messages(), encoded, c.sampling());
        } catch (PromptException e) {
            throw ApiException.badRequest(e.getMessage(), "messages");
        } catch (RequestRejectedException e) {
            throw ApiException.badRequest(e.getMessage(), e.param());
        }
        runner.run(
                ex,
                new EngineRequest(request, kv),
                new Responses(id, model, true),
                c.stream(),
                c.includeUsage(),
                arrival,
                c.requestTimeout());
    }
}
