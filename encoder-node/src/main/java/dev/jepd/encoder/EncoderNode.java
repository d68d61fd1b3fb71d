package dev.jepd.encoder;

import dev.jepd.api.HttpServer;

/** A running encoder node: its HTTP server (the vision tower's batcher is owned by whoever started it). */
public final class EncoderNode implements AutoCloseable {
    private final HttpServer http;

    EncoderNode(HttpServer http) {
        this.http = http;
    }

    public int port() {
        return http.port();
    }

    /** Stops taking requests (503 with Retry-After), lets running ones finish for up to {@code millis}. */
    public void shutdown(long millis) {
        http.shutdown(millis);
    }

    @Override
    public void close() {
        http.close();
    }
}
