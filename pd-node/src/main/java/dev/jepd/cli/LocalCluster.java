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
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An E+PD cluster on this machine: one encoder node, one PD node and the proxy, each a separate process
 * started through the {@code jepd} launcher on free loopback ports, sharing an EC directory. Used by
 * {@code jepd demo} and {@code jepd bench serve}.
 */
final class LocalCluster implements AutoCloseable {
    private final List<Process> children = new ArrayList<>();
    private final Path ec;
    private final Path logs;
    private String encoder;
    private String pd;
    private String proxy;

    private LocalCluster(Path ec, Path logs) {
        this.ec = ec;
        this.logs = logs;
    }

    static LocalCluster start(Path workDir, Path model, List<String> pdArgs) throws Exception {
        Path home = Path.of(System.getProperty("jepd.home", ".")).toAbsolutePath();
        String launcher =
                System.getProperty("jepd.launcher", home.resolve("bin/jepd").toString());
        LocalCluster c = new LocalCluster(
                Files.createDirectories(workDir.resolve("ec")), Files.createDirectories(workDir.resolve("logs")));
        Runtime.getRuntime().addShutdownHook(new Thread(c::close));
        try {
            int ePort = freePort();
            int pdPort = freePort();
            int proxyPort = freePort();
            String cfg = "{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"%s\","
                    + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"" + c.ec + "\"}}";
            c.launch(
                    launcher,
                    "encoder.log",
                    "serve",
                    model.toString(),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "" + ePort,
                    "--served-model-name",
                    "tiny",
                    "--ec-transfer-config",
                    cfg.formatted("ec_producer"));
            List<String> pd = new ArrayList<>(List.of(
                    "serve",
                    model.toString(),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "" + pdPort,
                    "--served-model-name",
                    "tiny",
                    "--ec-transfer-config",
                    cfg.formatted("ec_consumer")));
            pd.addAll(pdArgs);
            c.launch(launcher, "pd.log", pd.toArray(String[]::new));
            c.launch(
                    launcher,
                    "proxy.log",
                    "proxy",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "" + proxyPort,
                    "--encode-servers-urls",
                    "http://127.0.0.1:" + ePort,
                    "--decode-servers-urls",
                    "http://127.0.0.1:" + pdPort);
            c.encoder = "http://127.0.0.1:" + ePort;
            c.pd = "http://127.0.0.1:" + pdPort;
            c.proxy = "http://127.0.0.1:" + proxyPort;
            for (String url : List.of(c.encoder, c.pd, c.proxy)) {
                c.awaitHealthy(url);
            }
            return c;
        } catch (Exception e) {
            c.close();
            throw e;
        }
    }

    String encoderUrl() {
        return encoder;
    }

    String pdUrl() {
        return pd;
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

    private void launch(String launcher, String log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(launcher));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(logs.resolve(log).toFile());
        // This JVM was started by the launcher after its build check: the nodes need not check again.
        pb.environment().put("JEPD_NO_BUILD", "1");
        children.add(pb.start());
    }

    private void awaitHealthy(String url) throws Exception {
        HttpClient http =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (System.nanoTime() < deadline) {
            for (Process p : children) {
                if (!p.isAlive()) {
                    throw new IllegalStateException("a node exited during start-up; see the logs in " + logs);
                }
            }
            try {
                var r = http.send(
                        HttpRequest.newBuilder(URI.create(url + "/health"))
                                .timeout(Duration.ofSeconds(2))
                                .build(),
                        HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not up yet
            }
            Thread.sleep(250);
        }
        throw new IllegalStateException(url + " did not become healthy within 180 s; see the logs in " + logs);
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
    public synchronized void close() {
        for (Process p : children) {
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
        }
        for (Process p : children) {
            try {
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        children.clear();
    }
}
