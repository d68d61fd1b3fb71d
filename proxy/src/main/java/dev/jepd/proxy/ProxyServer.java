package dev.jepd.proxy;

import dev.jepd.api.HttpServer;
import dev.jepd.proxy.flow.ClusterHealth;
import dev.jepd.proxy.flow.Disaggregation;
import dev.jepd.proxy.flow.ProfileFanout;
import dev.jepd.proxy.items.ImageCost;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.UpstreamClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running proxy: the clusters, the shared upstream client and the routes, composed here and only here.
 */
public final class ProxyServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ProxyServer.class);
    /**
     * A worker thread is held by every request in flight (while encoders run and for a stream's whole
     * life), and almost all of them are waiting on an upstream.
     */
    private static final int WORKER_THREADS = 1024;

    private final HttpServer server;
    private final UpstreamClient client;

    private ProxyServer(HttpServer server, UpstreamClient client) {
        this.server = server;
        this.client = client;
    }

    public static ProxyServer start(ProxyConfig config) {
        UpstreamClient client = new UpstreamClient(config.connectTimeout(), config.upstreamTimeout());
        Cluster encode = Cluster.of("encode", config.encode(), config.routing());
        Cluster prefill = Cluster.of("prefill", config.prefill(), config.routing());
        Cluster decode = Cluster.of("decode", config.decode(), config.routing());
        ProxyRoutes routes = new ProxyRoutes(
                new Disaggregation(encode, prefill, decode, client, ImageCost.of(config.modelFamily())),
                new ClusterHealth(encode, prefill, decode, client),
                new ProfileFanout(encode, prefill, decode, client),
                client,
                decode.nodes().getFirst(),
                config.maxBodyBytes());
        HttpServer server;
        try {
            server = HttpServer.builder("jepd proxy")
                    .host(config.host())
                    .port(config.port())
                    .workerThreads(WORKER_THREADS)
                    .maxEntityBytes(config.maxBodyBytes())
                    .post("/v1/chat/completions", routes::chat)
                    .post("/v1/completions", routes::completions)
                    .get("/v1/models", routes::models)
                    .get("/health", routes::health)
                    .post("/start_profile", ex -> routes.profile(ex, "start"))
                    .post("/stop_profile", ex -> routes.profile(ex, "stop"))
                    .start();
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
        LOG.info(
                "{}: encode {}, prefill {}, decode {}; routing {}, upstream time-out {}",
                config.disaggregatedPrefill() ? "E+P+D" : "E+PD",
                config.encode(),
                config.prefill(),
                config.decode(),
                config.routing(),
                config.upstreamTimeout());
        return new ProxyServer(server, client);
    }

    public int port() {
        return server.port();
    }

    @Override
    public void close() {
        try {
            server.shutdown(2000);
        } finally {
            client.close();
        }
    }
}
