package dev.jepd.cli;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A disaggregated cluster on this machine: encoder nodes, then either PD nodes (E+PD) or prefill and decode
 * nodes (E+P+D, JEPD's KV side channel between them), and the proxy, each a separate process started through
 * the {@code jepd} launcher on free loopback ports, sharing an EC directory. Used by {@code jepd demo} and
 * {@code jepd bench serve}.
 */
final class LocalCluster implements AutoCloseable {
    /**
     * How many nodes of each kind: {@code 1e1pd} (E+PD), {@code 1e1p1d}, {@code 2e2p2d}, … ({@code prefill} 0
     * means the decode nodes prefill themselves).
     */
    record Topology(int encoders, int prefills, int decodes) {
        private static final Pattern FORM = Pattern.compile("(\\d+)e(?:(\\d+)pd|(\\d+)p(\\d+)d)");

        Topology {
            if (encoders < 1 || prefills < 0 || decodes < 1 || encoders > 16 || prefills > 16 || decodes > 16) {
                throw new IllegalArgumentException("a local topology needs 1..16 encoders and decode nodes and"
                        + " 0..16 prefill nodes, got " + encoders + "/" + prefills + "/" + decodes);
            }
        }

        static Topology parse(String s) {
            Matcher m = FORM.matcher(s.trim().toLowerCase(java.util.Locale.ROOT));
            if (!m.matches()) {
                throw new IllegalArgumentException(
                        "topology " + s + " is not of the form <n>e<n>pd or <n>e<n>p<n>d (1e1pd, 1e1p1d, 2e2p2d)");
            }
            int e = Integer.parseInt(m.group(1));
            return m.group(2) != null
                    ? new Topology(e, 0, Integer.parseInt(m.group(2)))
                    : new Topology(e, Integer.parseInt(m.group(3)), Integer.parseInt(m.group(4)));
        }

        boolean disaggregatedPrefill() {
            return prefills > 0;
        }

        @Override
        public String toString() {
            return encoders + "e" + (prefills > 0 ? prefills + "p" + decodes + "d" : decodes + "pd");
        }
    }

    private final ChildProcesses children = new ChildProcesses();
    private final Path ec;
    private final Path logs;
    private final List<String> encoders = new ArrayList<>();
    private final List<String> prefills = new ArrayList<>();
    private final List<String> decodes = new ArrayList<>();
    private String proxy;

    private LocalCluster(Path ec, Path logs) {
        this.ec = ec;
        this.logs = logs;
    }

    static LocalCluster start(Path workDir, Path model, List<String> pdArgs) throws Exception {
        return start(workDir, model, pdArgs, new Topology(1, 0, 1));
    }

    static LocalCluster start(Path workDir, Path model, List<String> pdArgs, Topology topology) throws Exception {
        return start(workDir, model, pdArgs, topology, List.of());
    }

    /** As above, {@code encoderArgs} added to every encoder's command line (a device, a dtype). */
    static LocalCluster start(
            Path workDir, Path model, List<String> pdArgs, Topology topology, List<String> encoderArgs)
            throws Exception {
        Path home = Path.of(System.getProperty("jepd.home", ".")).toAbsolutePath();
        String launcher =
                System.getProperty("jepd.launcher", home.resolve("bin/jepd").toString());
        LocalCluster c = new LocalCluster(
                Files.createDirectories(workDir.resolve("ec")), Files.createDirectories(workDir.resolve("logs")));
        Runtime.getRuntime().addShutdownHook(new Thread(c::close));
        try {
            String cfg = "{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"%s\","
                    + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"" + c.ec + "\"}}";
            for (int i = 0; i < topology.encoders(); i++) {
                int port = freePort();
                List<String> args = new ArrayList<>(List.of(
                        "serve",
                        model.toString(),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "" + port,
                        "--served-model-name",
                        "tiny",
                        "--ec-transfer-config",
                        cfg.formatted("ec_producer")));
                args.addAll(encoderArgs);
                c.launch(
                        launcher,
                        topology.encoders() == 1 ? "encoder.log" : "encoder-" + i + ".log",
                        args.toArray(String[]::new));
                c.encoders.add("http://127.0.0.1:" + port);
            }
            for (int i = 0; i < topology.prefills(); i++) {
                // The side channel's port is chosen here, like the HTTP port, so no log needs parsing.
                String kv = "{\"kv_connector\":\"JepdConnector\",\"kv_role\":\"kv_producer\","
                        + "\"kv_connector_extra_config\":{\"side_channel_port\":" + freePort() + "}}";
                c.prefills.add(
                        c.launchPd(launcher, model, "prefill-" + i + ".log", cfg.formatted("ec_consumer"), kv, pdArgs));
            }
            for (int i = 0; i < topology.decodes(); i++) {
                String kv = topology.disaggregatedPrefill()
                        ? "{\"kv_connector\":\"JepdConnector\",\"kv_role\":\"kv_consumer\"}"
                        : null;
                String log = topology.disaggregatedPrefill()
                        ? "decode-" + i + ".log"
                        : topology.decodes() == 1 ? "pd.log" : "pd-" + i + ".log";
                c.decodes.add(c.launchPd(launcher, model, log, cfg.formatted("ec_consumer"), kv, pdArgs));
            }
            int proxyPort = freePort();
            c.launch(
                    launcher,
                    "proxy.log",
                    "proxy",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "" + proxyPort,
                    "--encode-servers-urls",
                    String.join(",", c.encoders),
                    "--prefill-servers-urls",
                    String.join(",", c.prefills),
                    "--decode-servers-urls",
                    String.join(",", c.decodes));
            c.proxy = "http://127.0.0.1:" + proxyPort;
            List<String> all = new ArrayList<>(c.encoders);
            all.addAll(c.prefills);
            all.addAll(c.decodes);
            all.add(c.proxy);
            for (String url : all) {
                c.awaitHealthy(url);
            }
            c.awaitRoutable();
            return c;
        } catch (Exception e) {
            c.close();
            throw e;
        }
    }

    private String launchPd(String launcher, Path model, String log, String ecCfg, String kvCfg, List<String> extra)
            throws IOException {
        int port = freePort();
        List<String> args = new ArrayList<>(List.of(
                "serve",
                model.toString(),
                "--host",
                "127.0.0.1",
                "--port",
                "" + port,
                "--served-model-name",
                "tiny",
                "--ec-transfer-config",
                ecCfg));
        if (kvCfg != null) {
            args.add("--kv-transfer-config");
            args.add(kvCfg);
        }
        args.addAll(extra);
        launch(launcher, log, args.toArray(String[]::new));
        return "http://127.0.0.1:" + port;
    }

    List<String> encoderUrls() {
        return encoders;
    }

    List<String> prefillUrls() {
        return prefills;
    }

    List<String> decodeUrls() {
        return decodes;
    }

    String encoderUrl() {
        return encoders.getFirst();
    }

    /** The first decode (or PD) node. */
    String pdUrl() {
        return decodes.getFirst();
    }

    String proxyUrl() {
        return proxy;
    }

    Path ec() {
        return ec;
    }

    Path logs() {
        return logs;
    }

    /** The started processes in start order: encoders, prefill nodes, decode (or PD) nodes, the proxy. */
    List<Process> processes() {
        return children.all();
    }

    private void launch(String launcher, String log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(launcher));
        cmd.addAll(List.of(args));
        children.start(logs.resolve(log), cmd);
    }

    private static final Pattern NOT_ROUTABLE = Pattern.compile("\"routable\"\\s*:\\s*false");

    /**
     * Waits until the proxy routes to every node. A node the proxy probed while it was still starting is evicted
     * until the proxy's next health beat re-admits it (up to a second later), while the proxy's {@code /health}
     * already answers 200 from its own fresh probes; a first request in that window would leave its images to the
     * PD node (correct answers, but no EC entry), so the cluster is ready only once {@code /health} shows no node
     * with {@code "routable": false}.
     */
    private void awaitRoutable() throws Exception {
        if (!ChildProcesses.awaitHealthy(proxy, Duration.ofSeconds(60), children.all(), body -> !NOT_ROUTABLE
                .matcher(body)
                .find())) {
            throw new IllegalStateException("the proxy did not route to every node within 60 s (see its /health);"
                    + " see the logs in " + logs);
        }
    }

    private void awaitHealthy(String url) throws Exception {
        if (!ChildProcesses.awaitHealthy(url, Duration.ofSeconds(180), children.all())) {
            for (Process p : children.all()) {
                if (!p.isAlive()) {
                    throw new IllegalStateException("a node exited during start-up; see the logs in " + logs);
                }
            }
            throw new IllegalStateException(url + " did not become healthy within 180 s; see the logs in " + logs);
        }
    }

    /** One Prometheus sample's value (the first label set), 0 when absent. */
    static double metric(String base, String name) throws Exception {
        String text = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .build()
                .send(
                        HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString())
                .body();
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*})? ([0-9.eE+-]+)$")
                .matcher(text);
        return m.find() ? Double.parseDouble(m.group(2)) : 0;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        children.close();
    }
}
