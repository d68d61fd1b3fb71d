package dev.jepd.proxy;

import dev.jepd.api.MediaLimits;
import dev.jepd.media.MediaConfig;
import dev.jepd.media.ModelFamily;
import dev.jepd.proxy.upstream.Node;
import dev.jepd.proxy.upstream.Routing;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The proxy's settings, checked once: what {@code jepd proxy}'s flags say (see {@link ProxyMain}). */
public record ProxyConfig(
        String host,
        int port,
        List<Node> encode,
        List<Node> prefill,
        List<Node> decode,
        Routing routing,
        Duration upstreamTimeout,
        Duration connectTimeout,
        long maxBodyBytes,
        ModelFamily modelFamily,
        Resilience resilience,
        MediaLimits mediaLimits,
        ServerLimits server,
        MediaConfig remoteMedia) {

    public static final long DEFAULT_MAX_BODY_BYTES = 128L << 20;

    /**
     * The proxy's own HTTP server deadlines and connection bound, as a node's ({@code --http-header-timeout},
     * {@code --http-body-timeout}, {@code --http-idle-timeout}, {@code --max-connections}).
     */
    public record ServerLimits(Duration headerTimeout, Duration bodyTimeout, Duration idleTimeout, int maxConnections) {
        /** The nodes' defaults: 20 s for a head and for a body, 60 s idle, 1,024 connections. */
        public static final ServerLimits DEFAULT =
                new ServerLimits(Duration.ofSeconds(20), Duration.ofSeconds(20), Duration.ofSeconds(60), 1024);

        public ServerLimits {
            positive(headerTimeout, "--http-header-timeout");
            positive(bodyTimeout, "--http-body-timeout");
            positive(idleTimeout, "--http-idle-timeout");
            if (maxConnections < 1) {
                throw new IllegalArgumentException("--max-connections must be at least 1, got " + maxConnections);
            }
        }

        private static void positive(Duration d, String flag) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(flag + " must be positive");
            }
        }
    }

    /**
     * How the proxy keeps serving when nodes fail or change: the active health check's beat and how many failed
     * probes in a row evict a node ({@code --health-interval}, {@code --health-failures}); how long a successful
     * encode is shared with requests carrying the same item ({@code --dedup-window}); the membership file
     * reloaded when it changes ({@code --config}, or null); the key {@code /instances} wants in {@code X-API-Key}
     * (null: open, as the other routes).
     */
    public record Resilience(
            Duration healthInterval, int failuresToEvict, Duration dedupWindow, Path configFile, String adminKey) {
        public static final Resilience DEFAULT =
                new Resilience(Duration.ofSeconds(1), 2, Duration.ofSeconds(5), null, null);

        public Resilience {
            if (healthInterval.isNegative() || healthInterval.isZero()) {
                throw new IllegalArgumentException("--health-interval must be positive");
            }
            if (failuresToEvict < 1) {
                throw new IllegalArgumentException("--health-failures must be at least 1");
            }
            if (dedupWindow.isNegative()) {
                throw new IllegalArgumentException("--dedup-window must not be negative");
            }
        }
    }

    /**
     * The settings for the default model family with every other default: {@link Resilience#DEFAULT}, no
     * {@code --limit-mm-per-prompt}, {@link ServerLimits#DEFAULT}, remote images fetched once at the proxy under
     * {@link MediaConfig#defaults()}; the {@code with} methods change one of them.
     */
    public ProxyConfig(
            String host,
            int port,
            List<Node> encode,
            List<Node> prefill,
            List<Node> decode,
            Routing routing,
            Duration upstreamTimeout,
            Duration connectTimeout,
            long maxBodyBytes) {
        this(
                host,
                port,
                encode,
                prefill,
                decode,
                routing,
                upstreamTimeout,
                connectTimeout,
                maxBodyBytes,
                ModelFamily.DEFAULT,
                Resilience.DEFAULT,
                MediaLimits.NONE,
                ServerLimits.DEFAULT,
                MediaConfig.defaults());
    }

    /** A copy with other resilience settings. */
    public ProxyConfig with(Resilience r) {
        return copy(modelFamily, r, mediaLimits, server);
    }

    /** A copy with another {@code --limit-mm-per-prompt}. */
    public ProxyConfig with(MediaLimits limits) {
        return copy(modelFamily, resilience, limits, server);
    }

    /** A copy with other server limits. */
    public ProxyConfig with(ServerLimits limits) {
        return copy(modelFamily, resilience, mediaLimits, limits);
    }

    /** A copy for another model family ({@code --model-family}). */
    public ProxyConfig with(ModelFamily family) {
        return copy(family, resilience, mediaLimits, server);
    }

    /**
     * A copy whose remote images are fetched at the proxy under {@code config} ({@code --allowed-media-domains},
     * {@code --allow-private-media-urls}), or, with null, forwarded to the nodes as URLs ({@code
     * --forward-media-urls}).
     */
    public ProxyConfig withRemoteMedia(MediaConfig config) {
        return new ProxyConfig(
                host,
                port,
                encode,
                prefill,
                decode,
                routing,
                upstreamTimeout,
                connectTimeout,
                maxBodyBytes,
                modelFamily,
                resilience,
                mediaLimits,
                server,
                config);
    }

    private ProxyConfig copy(ModelFamily family, Resilience r, MediaLimits media, ServerLimits limits) {
        return new ProxyConfig(
                host,
                port,
                encode,
                prefill,
                decode,
                routing,
                upstreamTimeout,
                connectTimeout,
                maxBodyBytes,
                family,
                r,
                media,
                limits,
                remoteMedia);
    }

    public ProxyConfig {
        encode = List.copyOf(encode);
        prefill = List.copyOf(prefill);
        decode = List.copyOf(decode);
        java.util.Objects.requireNonNull(resilience, "resilience");
        java.util.Objects.requireNonNull(server, "server");
        if (decode.isEmpty() && resilience.configFile() == null) {
            throw new IllegalArgumentException("--decode-servers-urls needs at least one URL (or --config FILE)");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port must be 0-65535, got " + port);
        }
        if (upstreamTimeout.isNegative() || upstreamTimeout.isZero()) {
            throw new IllegalArgumentException("--upstream-timeout must be positive");
        }
        if (connectTimeout.isNegative() || connectTimeout.isZero()) {
            throw new IllegalArgumentException("--connect-timeout must be positive");
        }
        java.util.Objects.requireNonNull(modelFamily, "modelFamily");
        if (maxBodyBytes <= 0) {
            throw new IllegalArgumentException("--max-body-bytes must be positive");
        }
    }

    /** Whether a prefill cluster is configured (E+P+D) rather than E+PD. */
    public boolean disaggregatedPrefill() {
        return !prefill.isEmpty();
    }

    /** A comma-separated URL list, blanks ignored (as {@code disagg_epd_proxy.py} splits it). */
    public static List<Node> urls(String role, String csv) {
        List<Node> nodes = new ArrayList<>();
        if (csv == null) {
            return nodes;
        }
        for (String part : csv.split(",")) {
            if (!part.isBlank()) {
                nodes.add(Node.parse(role, part));
            }
        }
        return nodes;
    }

    /** {@code --prefill-servers-urls}: {@code disable}, {@code none} or empty mean E+PD (no prefill cluster). */
    public static List<Node> prefillUrls(String csv) {
        String v = csv == null ? "" : csv.strip().toLowerCase(Locale.ROOT);
        return v.isEmpty() || v.equals("disable") || v.equals("none") ? List.of() : urls("prefill", csv);
    }

    /** Seconds as a duration; fractions allowed ({@code 0.5}). */
    public static Duration seconds(String flag, double s) {
        if (!(s > 0) || Double.isInfinite(s)) {
            throw new IllegalArgumentException(flag + " must be a positive number of seconds, got " + s);
        }
        return Duration.ofNanos((long) (s * 1e9));
    }
}
