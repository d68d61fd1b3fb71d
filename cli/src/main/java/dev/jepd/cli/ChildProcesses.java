package dev.jepd.cli;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The processes a command starts (nodes, proxies, peers): started with their output in a log file, waited on
 * through {@code /health}, and stopped together, children of children included.
 */
final class ChildProcesses implements AutoCloseable {
    private final List<Process> children = new ArrayList<>();

    /** Starts {@code cmd}, stdout and stderr into {@code log}. */
    synchronized Process start(Path log, List<String> cmd) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        // This JVM was started by the launcher after its build check: children need not check again.
        pb.environment().put("JEPD_NO_BUILD", "1");
        Process p = pb.start();
        children.add(p);
        return p;
    }

    synchronized List<Process> all() {
        return List.copyOf(children);
    }

    /**
     * Polls {@code url/health} until it answers 200: true then; false when {@code timeout} passes or one of
     * {@code watched} exits first.
     */
    static boolean awaitHealthy(String url, Duration timeout, List<Process> watched) throws InterruptedException {
        return awaitHealthy(url, timeout, watched, body -> true);
    }

    /** As above, until a 200 whose body also satisfies {@code ready}. */
    static boolean awaitHealthy(String url, Duration timeout, List<Process> watched, Predicate<String> ready)
            throws InterruptedException {
        HttpClient http =
                HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            for (Process p : watched) {
                if (!p.isAlive()) {
                    return false;
                }
            }
            try {
                var r = http.send(
                        HttpRequest.newBuilder(URI.create(url + "/health"))
                                .timeout(Duration.ofSeconds(2))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200 && ready.test(r.body())) {
                    return true;
                }
            } catch (IOException notYet) {
                // starting
            }
            Thread.sleep(200);
        }
        return false;
    }

    /** Asks every child to stop, then forces those still running after 10 s. */
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
