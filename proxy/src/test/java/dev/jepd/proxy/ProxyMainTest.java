package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.media.ModelFamily;
import dev.jepd.proxy.upstream.Routing;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code jepd proxy}'s flags: vLLM's names and meanings, plus JEPD's. */
class ProxyMainTest {
    static ProxyMain parse(String... args) {
        CommandLine cmd = ProxyMain.commandLine();
        cmd.parseArgs(args);
        return cmd.getCommand();
    }

    @Test
    void limitMmPerPromptAndShutdownTimeoutAreRead() {
        ProxyMain m = parse("--decode-servers-urls", "http://d:1", "--limit-mm-per-prompt", "{\"image\": 4}");
        assertEquals(java.util.Map.of("image", 4), m.config().mediaLimits().perPrompt());
        assertEquals(300, m.shutdownTimeout);
        assertEquals(
                dev.jepd.api.MediaLimits.NONE,
                parse("--decode-servers-urls", "http://d:1").config().mediaLimits());
    }

    @Test
    void helpDocumentsEveryFlag() {
        StringWriter out = new StringWriter();
        CommandLine cmd = ProxyMain.commandLine();
        cmd.setOut(new PrintWriter(out));
        assertEquals(0, cmd.execute("--help"));
        for (String flag : List.of(
                "--host",
                "--port",
                "--encode-servers-urls",
                "--prefill-servers-urls",
                "--decode-servers-urls",
                "--routing",
                "--upstream-timeout",
                "--connect-timeout",
                "--max-body-bytes",
                "--model-family",
                "--limit-mm-per-prompt",
                "--shutdown-timeout",
                "--http-header-timeout",
                "--http-body-timeout",
                "--http-idle-timeout",
                "--max-connections",
                "--version")) {
            assertTrue(out.toString().contains(flag), flag + " missing from:\n" + out);
        }
    }

    @Test
    void vllmLaunchScriptFlagsGiveEpd() {
        ProxyConfig c = parse(
                        "--host", "0.0.0.0",
                        "--port", "10001",
                        "--encode-servers-urls", "http://e1:8001, http://e2:8002/",
                        "--prefill-servers-urls", "http://p1:8003",
                        "--decode-servers-urls", "http://d1:8005,http://d2:8006")
                .config();
        assertEquals("0.0.0.0", c.host());
        assertEquals(10001, c.port());
        assertEquals(
                List.of("http://e1:8001", "http://e2:8002"),
                c.encode().stream().map(n -> n.url()).toList());
        assertTrue(c.disaggregatedPrefill());
        assertEquals(2, c.decode().size());
        assertEquals(Routing.ROUND_ROBIN, c.routing());
        assertEquals(Duration.ofSeconds(300), c.upstreamTimeout());
        assertEquals(Duration.ofSeconds(5), c.connectTimeout());
        assertEquals(ModelFamily.QWEN2_5_VL, c.modelFamily(), "the default family");
    }

    @Test
    void modelFamilyNamesParseAndAnUnknownOneFails() {
        for (ModelFamily f : ModelFamily.values()) {
            assertEquals(
                    f,
                    parse("--decode-servers-urls", "http://d:1", "--model-family", f.flag())
                            .config()
                            .modelFamily());
        }
        assertEquals(
                ModelFamily.QWEN3_VL,
                parse("--decode-servers-urls=http://d:1", "--model-family=qwen3-vl")
                        .config()
                        .modelFamily());
        StringWriter err = new StringWriter();
        CommandLine cmd = ProxyMain.commandLine();
        cmd.setErr(new PrintWriter(err));
        assertNotEquals(0, cmd.execute("--decode-servers-urls", "http://d:1", "--model-family", "llava"));
        assertTrue(err.toString().contains("qwen2-vl, qwen2.5-vl, qwen3-vl"), err.toString());
    }

    @Test
    void prefillDisableNoneOrEmptyMeanEPlusPd() {
        for (String off : List.of("disable", "none", "NONE", "")) {
            ProxyConfig c = parse("--prefill-servers-urls", off, "--decode-servers-urls", "http://d:1")
                    .config();
            assertTrue(c.prefill().isEmpty(), off);
            assertEquals(8000, c.port());
            assertEquals("0.0.0.0", c.host());
        }
        ProxyConfig c = parse(
                        "--decode-servers-urls=http://d:1", "--routing", "least-loaded", "--upstream-timeout", "0.5")
                .config();
        assertEquals(Routing.LEAST_LOADED, c.routing());
        assertEquals(Duration.ofMillis(500), c.upstreamTimeout());
    }

    @Test
    void badFlagsFailWithAMessage() {
        assertThrows(IllegalArgumentException.class, () -> parse("--decode-servers-urls", "d1:8000")
                .config());
        assertThrows(IllegalArgumentException.class, () -> parse("--decode-servers-urls", " , ")
                .config());
        assertThrows(IllegalArgumentException.class, () -> parse(
                        "--decode-servers-urls", "http://d:1", "--upstream-timeout", "0")
                .config());
        StringWriter err = new StringWriter();
        CommandLine cmd = ProxyMain.commandLine();
        cmd.setErr(new PrintWriter(err));
        assertNotEquals(0, cmd.execute("--decode-servers-urls", "ftp://x"));
        assertTrue(err.toString().contains("ftp://x"), err.toString());
        assertNotEquals(0, ProxyMain.commandLine().execute("--port", "1"), "--decode-servers-urls is required");
    }
}
