package dev.jepd.pd;

import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.api.ServedModels;
import dev.jepd.engine.generate.EngineRequest;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.KvHandoff;
import dev.jepd.engine.generate.RequestRejectedException;
import dev.jepd.serving.RequestParser;
import dev.jepd.serving.Responses;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;

/** {@code POST /v1/completions}: a text or token-id prompt to the engine. */
final class CompletionRoute implements HttpHandler {
    private final ServedModels served;
    private final long maxBodyBytes;
    private final PromptPreparer prompts;
    private final GenerationRunner runner;
    private final ResponseIds ids = new ResponseIds("cmpl-");

    CompletionRoute(ServedModels served, long maxBodyBytes, PromptPreparer prompts, GenerationRunner runner) {
        this.served = served;
        this.maxBodyBytes = maxBodyBytes;
        this.prompts = prompts;
        this.runner = runner;
    }

    @Override
    public void handleRequest(HttpServerExchange ex) {
        long arrival = System.nanoTime();
        RequestParser.Completion c = RequestParser.completion(Json.readObject(ex, maxBodyBytes));
        String model = served.resolve(c.model());
        KvHandoff kv = runner.handoff(c.kvTransferParams(), c.stream());
        if (c.echo()) {
            throw ApiException.badRequest("echo is not supported", "echo");
        }
        String id = ids.responseId(ex);
        GenerationRequest request;
        try {
            String internal = ids.engineId(id);
            request = c.prompt() != null
                    ? prompts.text(internal, c.prompt(), c.sampling())
                    : prompts.tokens(internal, c.promptTokenIds(), c.sampling());
        } catch (RequestRejectedException e) {
            throw ApiException.badRequest(e.getMessage(), e.param());
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage(), "prompt");
        }
        runner.run(
                ex,
                new EngineRequest(request, kv),
                new Responses(id, model, false),
                c.stream(),
                c.includeUsage(),
                arrival,
                c.requestTimeout());
    }
}
