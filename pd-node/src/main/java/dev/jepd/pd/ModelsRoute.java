package dev.jepd.pd;

import dev.jepd.api.Json;
import dev.jepd.engine.generate.EngineClient;
import dev.jepd.serving.Responses;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;

/** {@code GET /v1/models}: the served name, the snapshot it came from and {@code max_model_len}. */
final class ModelsRoute implements HttpHandler {
    private final String servedName;
    private final String modelRoot;
    private final EngineClient engine;

    ModelsRoute(String servedName, String modelRoot, EngineClient engine) {
        this.servedName = servedName;
        this.modelRoot = modelRoot;
        this.engine = engine;
    }

    @Override
    public void handleRequest(HttpServerExchange ex) {
        Json.send(ex, 200, Responses.models(servedName, modelRoot, engine.info().maxModelLen()));
    }
}
