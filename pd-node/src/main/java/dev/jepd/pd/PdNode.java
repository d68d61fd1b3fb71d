package dev.jepd.pd;

import dev.jepd.api.HttpServer;

/** A running PD node: its HTTP server, the engine thread behind it and its KV side channel, if any. */
public final class PdNode implements AutoCloseable {
    private final HttpServer http;
    private final EngineLoop loop;
    /** Null without --kv-transfer-config. */
    private final PdKvTransfer kvTransfer;

    PdNode(HttpServer http, EngineLoop loop, PdKvTransfer kvTransfer) {
        this.http = http;
        this.loop = loop;
        this.kvTransfer = kvTransfer;
    }

    public int port() {
        return http.port();
    }

    /**
     * The KV part of the ready line a supervisor waits for ({@code kv_role=… kv_engine_id=… kv_transport=…}
     * and the side channel's {@code kv_port=} on producers); empty without KV transfer.
     */
    public String kvReadyFields() {
        if (kvTransfer == null) {
            return "";
        }
        var kv = kvTransfer.config();
        return " kv_role=" + kv.role().jsonName() + " kv_engine_id=" + kvTransfer.engineId()
                + " kv_transport=" + kvTransfer.transportName()
                + (kv.isProducer() ? " kv_port=" + kvTransfer.sideChannelPort() : "");
    }

    /**
     * Stops taking requests (503 with Retry-After), lets running ones finish for up to {@code millis}, then stops
     * the engine and the side channel.
     */
    public void shutdown(long millis) {
        http.shutdown(millis);
        close();
    }

    @Override
    public void close() {
        http.close();
        loop.close();
        if (kvTransfer != null) {
            kvTransfer.close();
        }
    }
}
