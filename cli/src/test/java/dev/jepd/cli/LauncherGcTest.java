package dev.jepd.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The collector {@code bin/jepd} gives each JVM (docs/RELIABILITY.md, "Memory after a burst"): G1 for the nodes
 * and the proxy, whose idle full GC then gives the heap a burst grew back to the OS; the parallel collector for
 * the batch commands; a collector named in {@code JEPD_JAVA_OPTS} instead of either. Read from the launcher's
 * {@code JEPD_PRINT_JAVA_COMMAND} output, so nothing starts.
 */
class LauncherGcTest {
    static final Path LAUNCHER = Path.of("..", "bin", "jepd").toAbsolutePath().normalize();

    static List<String> javaCommand(Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(LAUNCHER.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("JEPD_JAVA_OPTS");
        pb.environment().remove("JEPD_GC");
        pb.environment().put("JEPD_NO_BUILD", "1");
        pb.environment().put("JEPD_PRINT_JAVA_COMMAND", "1");
        pb.environment().put("JEPD_JAVA_HOME", System.getProperty("java.home"));
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher did not exit");
        assertEquals(0, p.exitValue(), out);
        return out.lines().toList();
    }

    static List<String> collectors(List<String> javaCommand) {
        return javaCommand.stream()
                .filter(a -> a.startsWith("-XX:+Use") && a.endsWith("GC"))
                .toList();
    }

    @Test
    void nodesAndTheProxyRunOnG1WithTheHeapFlags() throws Exception {
        for (String[] args : new String[][] {{"serve", "/no/model"}, {"proxy", "--port", "1"}}) {
            List<String> java = javaCommand(Map.of(), args);
            assertEquals(List.of("-XX:+UseG1GC"), collectors(java), String.join(" ", java));
            assertTrue(java.contains("-XX:MaxHeapFreeRatio=30"), String.join(" ", java));
            assertTrue(java.contains("-XX:MinHeapFreeRatio=10"), String.join(" ", java));
        }
    }

    @Test
    void batchCommandsKeepTheParallelCollector() throws Exception {
        List<String> java = javaCommand(Map.of(), "generate", "--help");
        assertEquals(List.of("-XX:+UseParallelGC"), collectors(java), String.join(" ", java));
        assertFalse(java.contains("-XX:MaxHeapFreeRatio=30"), String.join(" ", java));
    }

    @Test
    void aCollectorInJepdJavaOptsWins() throws Exception {
        List<String> java = javaCommand(Map.of("JEPD_JAVA_OPTS", "-Xmx1g -XX:+UseParallelGC"), "serve", "/no/model");
        assertEquals(List.of("-XX:+UseParallelGC"), collectors(java), String.join(" ", java));
        List<String> serial = javaCommand(Map.of("JEPD_JAVA_OPTS", "-XX:+UseSerialGC"), "generate", "--help");
        assertEquals(List.of("-XX:+UseSerialGC"), collectors(serial), String.join(" ", serial));
    }
}
