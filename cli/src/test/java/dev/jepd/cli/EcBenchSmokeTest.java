package dev.jepd.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.ffi.nixl.NixlLibrary;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code jepd bench ec} on a small item: every path it measures hands the item over intact (the command checks
 * each arrival and fails otherwise), and NIXL is measured where the library is, or says why not.
 */
class EcBenchSmokeTest {
    @Test
    void everyPathHandsTheItemOverAndIsReported() {
        PrintStream saved = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            code = new CommandLine(new EcBenchCommand()).execute("--tokens", "64", "--dim", "32", "--iterations", "2");
        } finally {
            System.setOut(saved);
        }
        String out = captured.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, out);
        assertTrue(out.contains("| raw loopback TCP"), out);
        assertTrue(out.contains("| EC directory (safetensors write + read"), out);
        String nixlRow = NixlLibrary.find().isPresent() ? "| EC over NIXL (bf16 pack" : "| EC over NIXL | not measured";
        assertTrue(out.contains(nixlRow), out);
    }
}
