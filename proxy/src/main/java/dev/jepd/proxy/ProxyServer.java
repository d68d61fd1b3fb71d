package dev.jepd.proxy;

import dev.jepd.api.HttpServer;
import dev.jepd.proxy.flow.ClusterHealth;
import dev.jepd.proxy.flow.Disaggregation;
import dev.jepd.proxy.flow.EncoderFanout;
import dev.jepd.proxy.flow.IoThreadFlow;
import dev.jepd.proxy.flow.Membership;
import dev.jepd.proxy.flow.ProfileFanout;
import dev.jepd.proxy.items.ImageCost;
import dev.jepd.proxy.items.RemoteMedia;
import dev.jepd.proxy.upstream.AsyncUpstream;
import dev.jepd.proxy.upstream.Cluster;
import dev.jepd.proxy.upstream.HealthChecker;
import dev.jepd.proxy.upstream.UpstreamClient;
import java.time.Duration;
import java.util.List;
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
    private final HealthChecker checker;
    private final RemoteMedia remoteMedia;

    private ProxyServer(HttpServer server, UpstreamClient client, HealthChecker checker, RemoteMedia remoteMedia) {
        this.server = server;
        this.client = client;
        this.checker = checker;
        this.remoteMedia = remoteMedia;
    }

    public static ProxyServer start(ProxyConfig config) {
        ProxyConfig.Resilience res = config.resilience();
        UpstreamClient client = new UpstreamClient(config.connectTimeout(), config.upstreamTimeout());
        Cluster encode = Cluster.of("encode", config.encode(), config.routing());
        Cluster prefill = Cluster.of("prefill", config.prefill(), config.routing());
        Cluster decode = Cluster.of("decode", config.decode(), config.routing());
        String adminKey = res.adminKey() != null ? res.adminKey() : System.getenv("ADMIN_API_KEY");
        Membership membership = new Membership(encode, prefill, decode, adminKey, res.configFile());
        if (res.configFile() != null && !membership.reloadIfChanged() && decode.isEmpty()) {
            client.close();
            throw new IllegalArgumentException("--config " + res.configFile() + " gave no decode node (see the log)");
        }
        RemoteMedia remoteMedia =
                config.remoteMedia() == null ? RemoteMedia.forwarding() : RemoteMedia.fetching(config.remoteMedia());
        EncoderFanout encoders =
                new EncoderFanout(encode, client, ImageCost.of(config.modelFamily()), res.dedupWindow());
        Disaggregation flow = new Disaggregation(encoders, prefill, decode, client, config.mediaLimits(), remoteMedia);
        AsyncUpstream upstream = new AsyncUpstream(config.connectTimeout(), config.upstreamTimeout());
        // -Djepd.proxy.blocking=true keeps every request on a worker (the A/B of docs/PERF.md)
        IoThreadFlow ioFlow = Boolean.getBoolean("jepd.proxy.blocking")
                ? null
                : new IoThreadFlow(flow, encoders, prefill, decode, upstream, config.maxBodyBytes());
        ProxyRoutes routes = new ProxyRoutes(
                flow,
                new ClusterHealth(encode, prefill, decode, client),
                new ProfileFanout(encode, prefill, decode, client),
                membership,
                encoders,
                client,
                decode,
                config.maxBodyBytes(),
                ioFlow);
        HealthChecker checker = new HealthChecker(
                List.of(encode, prefill, decode),
                client,
                res.healthInterval(),
                res.failuresToEvict(),
                List.of(encoders::sweep, membership::reloadIfChanged));
        HttpServer server;
        try {
            server = HttpServer.builder("jepd proxy")
                    .host(config.host())
                    .port(config.port())
                    .workerThreads(WORKER_THREADS)
                    .maxEntityBytes(config.maxBodyBytes())
                    .headerTimeout(config.server().headerTimeout())
                    .bodyTimeout(config.server().bodyTimeout())
                    .idleTimeout(config.server().idleTimeout())
                    .maxConnections(config.server().maxConnections())
                    .trimWhenIdle(Duration.ofSeconds(2))
                    .postOnIoThread("/v1/chat/completions", routes::chatOnIoThread)
                    .postOnIoThread("/v1/completions", routes::completionsOnIoThread)
                    .get("/v1/models", routes::models)
                    .get("/health", routes::health)
                    .post("/start_profile", ex -> routes.profile(ex, "start"))
                    .post("/stop_profile", ex -> routes.profile(ex, "stop"))
                    .get("/instances", routes::instances)
                    .post("/instances", routes::addInstance)
                    .post("/instances/add", routes::addInstance)
                    .delete("/instances", routes::removeInstance)
                    .post("/instances/remove", routes::removeInstance)
                    .start();
        } catch (RuntimeException e) {
            client.close();
            remoteMedia.close();
            throw e;
        }
        checker.start();
        LOG.info(
                "{}: encode {}, prefill {}, decode {}; routing {}, upstream time-out {}, health every {}",
                config.disaggregatedPrefill() ? "E+P+D" : "E+PD",
                encode.nodes(),
                prefill.nodes(),
                decode.nodes(),
                config.routing(),
                config.upstreamTimeout(),
                res.healthInterval());
        return new ProxyServer(server, client, checker, remoteMedia);
    }

    public int port() {
        return server.port();
    }

    /**
     * Drains: new requests (and {@code /health}, so that a balancer in front stops routing here) get 503 OpenAI
     * JSON with {@code Retry-After}; requests in flight finish for up to {@code millis} on the upstream client and
     * health checks that they may still need; then everything is closed. A second call returns at once.
     */
    public void shutdown(long millis) {
        try {
            server.shutdown(millis);
        } finally {
            checker.close();
            client.close();
            remoteMedia.close();
        }
    }

    @Override
    public void close() {
        shutdown(2000);
    }
}
