package dev.jepd.e2e;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A JEPD node as a real child JVM (the test classpath, so no packaging is needed), started on port 0. The
 * port is read from its "ready" line; its output goes to {@code target/e2e-logs/<name>.log}.
 */
public final class NodeProcess implements AutoCloseable {
    private static final Pattern READY =
            Pattern.compile("ready role=\\S+ port=(\\d+)|listening on http://[^:]+:(\\d+)");

    private final String name;
    private final Process process;
    private final int port;

    private NodeProcess(String name, Process process, int port) {
        this.name = name;
        this.process = process;
        this.port = port;
    }

    public static NodeProcess start(String name, String mainClass, List<String> args) throws IOException {
        return start(name, mainClass, args, Map.of());
    }

    /** As above, with {@code env} added to the inherited environment. */
    public static NodeProcess start(String name, String mainClass, List<String> args, Map<String, String> env)
            throws IOException {
        List<String> cmd = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED",
                "--add-modules=jdk.incubator.vector",
                "-Dai.djl.offline=true",
                "-XX:+UseParallelGC",
                "-Xmx2g",
                "-cp",
                System.getProperty("java.class.path"),
                mainClass));
        cmd.addAll(args);
        Path logs = Path.of("target", "e2e-logs");
        Files.createDirectories(logs);
        Path log = logs.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("OPT_OUT_TRACKING", "true");
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        CompletableFuture<Integer> port = new CompletableFuture<>();
        Thread.ofPlatform().daemon().name("log-" + name).start(() -> {
            try (BufferedReader r =
                            new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                    PrintWriter w = new PrintWriter(Files.newBufferedWriter(log), true)) {
                for (String line; (line = r.readLine()) != null; ) {
                    w.println(line);
                    Matcher m = READY.matcher(line);
                    if (m.find()
                            && !port.isDone()
                            && line.contains(mainClass.endsWith("ProxyMain") ? "listening" : "ready")) {
                        port.complete(Integer.parseInt(m.group(1) != null ? m.group(1) : m.group(2)));
                    }
                }
            } catch (IOException e) {
                port.completeExceptionally(e);
            }
            port.completeExceptionally(new IllegalStateException(name + " exited before it was ready; see " + log));
        });
        try {
            return new NodeProcess(name, p, port.get(180, TimeUnit.SECONDS));
        } catch (Exception e) {
            p.destroyForcibly();
            throw new IllegalStateException(
                    "node " + name + " did not start: " + e.getMessage() + " (log: " + log + ")", e);
        }
    }

    /** {@code jepd serve MODEL args...}. */
    public static NodeProcess serve(String name, Path model, String... args) throws IOException {
        return serve(name, model, Map.of(), args);
    }

    /** {@code jepd serve MODEL args...} with {@code env} added. */
    public static NodeProcess serve(String name, Path model, Map<String, String> env, String... args)
            throws IOException {
        List<String> a = new ArrayList<>(List.of("serve", model.toString(), "--host", "127.0.0.1", "--port", "0"));
        a.addAll(List.of(args));
        return start(name, "dev.jepd.cli.Jepd", a, env);
    }

    /** The log of a node started under {@code name} (also of one that failed to start). */
    public static Path log(String name) {
        return Path.of("target", "e2e-logs", name + ".log");
    }

    public String url() {
        return "http://127.0.0.1:" + port;
    }

    public int port() {
        return port;
    }

    public String name() {
        return name;
    }

    public boolean alive() {
        return process.isAlive();
    }

    /** Stops each node that was started (null ones are skipped), in the order given. */
    public static void closeAll(NodeProcess... nodes) throws InterruptedException {
        for (NodeProcess p : nodes) {
            if (p != null) {
                p.close();
            }
        }
    }

    /** Sends SIGTERM (what {@code kill PID} and container runtimes send) without waiting. */
    public void terminate() {
        process.destroy();
    }

    /** Waits for the process to end; its exit status, or -1 if it is still running after {@code seconds}. */
    public int waitFor(long seconds) throws InterruptedException {
        return process.waitFor(seconds, TimeUnit.SECONDS) ? process.exitValue() : -1;
    }

    /** Kills the process (a dead upstream for failure tests). */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(15, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(15, TimeUnit.SECONDS);
        }
    }
}
