package dev.jepd.proxy;

import dev.jepd.api.GracefulExit;
import dev.jepd.api.MediaLimits;
import dev.jepd.media.MediaConfig;
import dev.jepd.media.ModelFamily;
import dev.jepd.proxy.upstream.Routing;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd proxy}: the flags of vLLM's {@code disagg_epd_proxy.py} (so its launch scripts work
 * unchanged) plus JEPD's routing, time-out and body-size settings.
 */
@Command(
        name = "jepd proxy",
        mixinStandardHelpOptions = true,
        version = "jepd proxy (JEPD 0.1.0; flags of vLLM's disagg_epd_proxy.py)",
        sortOptions = false,
        usageHelpAutoWidth = true,
        description = {
            "OpenAI-compatible proxy in front of disaggregated encoder (E), prefill (P) and decode (D) nodes,"
                    + " JEPD's or vLLM's: each image goes alone to an encoder, then the request goes to P (E+P+D)"
                    + " and D, or to a combined PD node (E+PD). Drop-in for vLLM's disagg_epd_proxy.py.",
            ""
        })
public final class ProxyMain implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--host", defaultValue = "0.0.0.0", description = "Address to bind (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "Port to listen on (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(
            names = "--encode-servers-urls",
            defaultValue = "",
            paramLabel = "URLS",
            description = "Comma-separated encoder base URLs (\"http://e1:8001,http://e2:8002\"). Every image"
                    + " item of a request goes alone to one of them. Empty: no encode cluster, decode nodes"
                    + " encode images themselves.")
    String encodeUrls;

    @Option(
            names = "--prefill-servers-urls",
            defaultValue = "",
            paramLabel = "URLS",
            description = "Comma-separated prefill base URLs for E+P+D (P returns kv_transfer_params that D"
                    + " receives verbatim). \"disable\", \"none\" or \"\" (the default) run E+PD.")
    String prefillUrls;

    @Option(
            names = "--decode-servers-urls",
            defaultValue = "",
            paramLabel = "URLS",
            description = "Comma-separated decode (or prefill+decode) base URLs. Required unless --config gives them.")
    String decodeUrls;

    @Option(
            names = "--routing",
            defaultValue = "round-robin",
            paramLabel = "round-robin|least-loaded|cache-affinity",
            converter = RoutingConverter.class,
            description = "How each cluster picks a node: round-robin, or least-loaded (encoders by the image"
                    + " tokens in flight, costed from each image's header without decoding it; P and D by"
                    + " requests in flight), or cache-affinity (an image encoded recently goes back to the encoder that"
                    + " encoded it, a request to the decode node that last had one of its images: for node-local EC;"
                    + " otherwise least-loaded). Default: ${DEFAULT-VALUE}.")
    Routing routing;

    @Option(
            names = "--upstream-timeout",
            defaultValue = "300",
            paramLabel = "SECONDS",
            description = "Longest wait for an encoder, prefill or decode answer, and longest silence within"
                    + " a decode stream; past it the client gets a 504 error (or an error event). Default:"
                    + " ${DEFAULT-VALUE}.")
    double upstreamTimeout;

    @Option(
            names = "--connect-timeout",
            defaultValue = "5",
            paramLabel = "SECONDS",
            description = "Longest wait for a TCP connection to a node; past it the client gets a 502."
                    + " Default: ${DEFAULT-VALUE}.")
    double connectTimeout;

    @Option(
            names = "--max-body-bytes",
            defaultValue = "" + ProxyConfig.DEFAULT_MAX_BODY_BYTES,
            paramLabel = "BYTES",
            description = "Largest request body accepted (data-URL images count); larger is a 413. Default:"
                    + " ${DEFAULT-VALUE}.")
    long maxBodyBytes;

    @Option(
            names = "--model-family",
            defaultValue = "qwen2.5-vl",
            paramLabel = "qwen2.5-vl|qwen2-vl|qwen3-vl",
            converter = ModelFamilyConverter.class,
            description = "The served model's family, for the image-token cost of --routing least-loaded: one"
                    + " token per 28x28 pixels for qwen2-vl and qwen2.5-vl, per 32x32 for qwen3-vl, within the"
                    + " family's default pixel bounds. Default: ${DEFAULT-VALUE}.")
    ModelFamily modelFamily;

    @Option(
            names = "--config",
            paramLabel = "FILE",
            description = "JSON membership file {\"encode\":[urls],\"prefill\":[urls],\"decode\":[urls]}; its lists"
                    + " replace the flags' and are read again whenever the file changes (no restart).")
    Path configFile;

    @Option(
            names = "--health-interval",
            defaultValue = "1",
            paramLabel = "SECONDS",
            description = "How often every node's /health is probed; a dead node is evicted, a recovered one"
                    + " re-admitted. Default: ${DEFAULT-VALUE}.")
    double healthInterval;

    @Option(
            names = "--health-failures",
            defaultValue = "2",
            paramLabel = "N",
            description = "Failed probes in a row that evict a node (a request that cannot reach a node evicts it"
                    + " at once). Default: ${DEFAULT-VALUE}.")
    int healthFailures;

    @Option(
            names = "--dedup-window",
            defaultValue = "5",
            paramLabel = "SECONDS",
            description = "Requests carrying an image already being encoded wait for that encoder call; a"
                    + " successful one is also reused for this long after it ended (0: only calls in flight)."
                    + " Default: ${DEFAULT-VALUE}.")
    double dedupWindow;

    @Option(
            names = "--admin-api-key",
            paramLabel = "KEY",
            description = "Key that POST/DELETE /instances want in X-API-Key (default: $ADMIN_API_KEY; unset: open).")
    String adminApiKey;

    @Option(
            names = "--limit-mm-per-prompt",
            defaultValue = "",
            paramLabel = "JSON",
            description = "vLLM's flag: the most items of each modality one request may carry, e.g."
                    + " '{\"image\": 4}'; more is a 400 before any node is asked. Give the nodes the same value."
                    + " Default: no limit.")
    String limitMmPerPrompt;

    @Option(
            names = "--allowed-media-domains",
            arity = "1..*",
            paramLabel = "HOST",
            description = "vLLM's flag, as on the nodes: the only hosts http(s) image URLs (and their redirects) may"
                    + " name when the proxy fetches them (default: any public host).")
    List<String> allowedMediaDomains;

    @Option(
            names = "--allow-private-media-urls",
            description = "Let the proxy fetch http(s) image URLs (and redirects) that reach loopback, link-local and"
                    + " private addresses (off by default, as on the nodes).")
    boolean allowPrivateMediaUrls;

    @Option(
            names = "--forward-media-urls",
            description = "Send http(s) image URLs to the nodes as they came, each node fetching them itself (by"
                    + " default the proxy fetches each once and hands the bytes to the encoder and the PD node as a"
                    + " data: URL).")
    boolean forwardMediaUrls;

    @Option(
            names = "--shutdown-timeout",
            defaultValue = "300",
            paramLabel = "SECONDS",
            description = "On SIGTERM/SIGINT: seconds the proxy lets requests in flight finish (new ones, /health"
                    + " included, get 503 with Retry-After) before it exits with status 0, as the nodes do."
                    + " Default: ${DEFAULT-VALUE}.")
    long shutdownTimeout;

    @Option(
            names = "--http-header-timeout",
            defaultValue = "20",
            paramLabel = "SECONDS",
            description = "Seconds a client has to send a request's headers, then the connection is closed (as"
                    + " `jepd serve`). Default: ${DEFAULT-VALUE}.")
    double headerTimeout;

    @Option(
            names = "--http-body-timeout",
            defaultValue = "20",
            paramLabel = "SECONDS",
            description = "Seconds a client has to send a request's body, then 408 and close (as `jepd serve`)."
                    + " Default: ${DEFAULT-VALUE}.")
    double bodyTimeout;

    @Option(
            names = "--http-idle-timeout",
            defaultValue = "60",
            paramLabel = "SECONDS",
            description = "Seconds a keep-alive client connection may sit without a request (as `jepd serve`)."
                    + " Default: ${DEFAULT-VALUE}.")
    double idleTimeout;

    @Option(
            names = "--max-connections",
            defaultValue = "1024",
            paramLabel = "N",
            description = "Client connections served at once; more wait in the listen backlog (as `jepd serve`)."
                    + " Default: ${DEFAULT-VALUE}.")
    int maxConnections;

    /** {@code --model-family} names as {@link ModelFamily#parse} reads them. */
    static final class ModelFamilyConverter implements CommandLine.ITypeConverter<ModelFamily> {
        @Override
        public ModelFamily convert(String value) {
            try {
                return ModelFamily.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** The flags as a checked configuration. */
    ProxyConfig config() {
        return new ProxyConfig(
                host,
                port,
                ProxyConfig.urls("encode", encodeUrls),
                ProxyConfig.prefillUrls(prefillUrls),
                ProxyConfig.urls("decode", decodeUrls),
                routing,
                ProxyConfig.seconds("--upstream-timeout", upstreamTimeout),
                ProxyConfig.seconds("--connect-timeout", connectTimeout),
                maxBodyBytes,
                modelFamily,
                new ProxyConfig.Resilience(
                        ProxyConfig.seconds("--health-interval", healthInterval),
                        healthFailures,
                        dedupWindow == 0 ? Duration.ZERO : ProxyConfig.seconds("--dedup-window", dedupWindow),
                        configFile,
                        adminApiKey),
                MediaLimits.parse(limitMmPerPrompt),
                new ProxyConfig.ServerLimits(
                        ProxyConfig.seconds("--http-header-timeout", headerTimeout),
                        ProxyConfig.seconds("--http-body-timeout", bodyTimeout),
                        ProxyConfig.seconds("--http-idle-timeout", idleTimeout),
                        maxConnections),
                forwardMediaUrls ? null : remoteMediaConfig());
    }

    /** The nodes' media defaults with this proxy's domain and private-address flags, as a node takes them. */
    private MediaConfig remoteMediaConfig() {
        MediaConfig config = MediaConfig.defaults().withAllowPrivateNetworks(allowPrivateMediaUrls);
        if (allowedMediaDomains != null && !allowedMediaDomains.isEmpty()) {
            config = config.withAllowedMediaDomains(Set.copyOf(allowedMediaDomains));
        }
        return config;
    }

    @Override
    public Integer call() throws InterruptedException {
        ProxyConfig config;
        try {
            config = config();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
        }
        ProxyServer server;
        try {
            server = ProxyServer.start(config);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
        }
        long drainMillis = TimeUnit.SECONDS.toMillis(Math.max(0, shutdownTimeout));
        GracefulExit.onSignals(() -> {
            System.err.println("jepd proxy: draining (up to " + shutdownTimeout + " s), then exiting");
            server.shutdown(drainMillis);
        });
        // Any other exit (System.exit elsewhere, a signal not handled) still closes the sockets.
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "jepd-proxy-shutdown"));
        new CountDownLatch(1).await();
        return 0;
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        return new CommandLine(new ProxyMain());
    }

    static final class RoutingConverter implements CommandLine.ITypeConverter<Routing> {
        @Override
        public Routing convert(String value) {
            return Routing.parse(value);
        }
    }
}
