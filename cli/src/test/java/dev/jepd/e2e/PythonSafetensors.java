package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Hugging Face's Python {@code safetensors} as an independent reader of EC files: the venv {@code bin/test-peers}
 * makes ({@code target/pyvenv}), {@code JEPD_PYTHON}, or a {@code python3} that has it.
 */
public final class PythonSafetensors {
    /** Why tests that need it skip where it is missing. */
    public static final String MISSING =
            "python safetensors not installed here (bin/test-peers makes target/pyvenv from the local wheel index)";

    private static final String READ = """
            import json, sys
            from safetensors import deserialize
            tensors = deserialize(open(sys.argv[1], "rb").read())
            print(json.dumps([{"name": n, "dtype": t["dtype"], "shape": t["shape"], "nbytes": len(t["data"])}
                              for n, t in tensors]))
            """;

    private PythonSafetensors() {}

    public record Run(int exit, String out) {}

    public static Run python(String python, List<String> args, String stdin) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(python));
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new Run(p.exitValue(), out);
    }

    /** A Python that imports {@code safetensors}, or null. */
    public static String find() throws Exception {
        for (String py : new String[] {
            System.getenv("JEPD_PYTHON"),
            Path.of("..", "target", "pyvenv", "bin", "python")
                    .toAbsolutePath()
                    .normalize()
                    .toString(),
            "python3"
        }) {
            if (py != null
                    && (py.equals("python3") || Files.isExecutable(Path.of(py)))
                    && python(py, List.of("-c", "import safetensors"), "").exit() == 0) {
                return py;
            }
        }
        return null;
    }

    /**
     * Python loads {@code file} (an EC file) and reports its one tensor: it must be {@code ec_cache}, bf16, of
     * {@code [tokens, width]} with every byte present. Returns Python's description of it.
     */
    public static JsonNode assertEcFile(String python, Path file, long tokens, long width) throws Exception {
        Run r = python(python, List.of("-c", READ, file.toString()), "");
        assertEquals(0, r.exit(), r.out());
        JsonNode all = Http.JSON.readTree(r.out().strip());
        assertEquals(1, all.size(), r.out());
        JsonNode t = all.get(0);
        assertEquals("ec_cache", t.path("name").asText());
        assertTrue(t.path("dtype").asText().toLowerCase().matches("bf16|bfloat16"), r.out());
        assertEquals("[" + tokens + "," + width + "]", t.path("shape").toString(), file.toString());
        assertEquals(tokens * width * 2, t.path("nbytes").asLong());
        return t;
    }
}
