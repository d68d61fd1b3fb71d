package dev.jepd.pd;

import dev.jepd.api.HttpServer;

/** A running PD node: its HTTP server and the engine thread behind it. */
public final class PdNode implements AutoCloseable {
    private final HttpServer http;
    private final EngineLoop loop;

    PdNode(HttpServer http, EngineLoop loop) {
        this.http = http;
        this.loop = loop;
    }

    public int port() {
        return http.port();
    }

    @Override
    public void close() {
        http.close();
        loop.close();
    }
}
