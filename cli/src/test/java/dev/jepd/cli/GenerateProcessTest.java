package dev.jepd.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.models.tiny.TinyModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jepd generate} as a real JVM process: stdout carries the text only; errors are one clear line. */
class GenerateProcessTest {
    static final Path GOLDEN = Path.of("..", "models", "src", "test", "resources", "golden")
            .toAbsolutePath()
            .normalize();
    static Path model;

    @TempDir
    Path tmp;

    @BeforeAll
    static void writeModel() throws IOException {
        model = TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
    }

    record Result(int exit, String stdout, String stderr) {}

    static Result jepd(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED",
                "--add-modules=jdk.incubator.vector",
                "-Dai.djl.offline=true",
                "-cp",
                System.getProperty("java.class.path"),
                Jepd.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        Process p = pb.start();
        p.getOutputStream().close();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "jepd did not exit");
        return new Result(
                p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    @Test
    void printsTheGoldenGreedyTextForBothImages() throws Exception {
        for (String name : new String[] {"img_112x84", "img_100x61"}) {
            var json = new ObjectMapper()
                    .readTree(GOLDEN.resolve("cases/" + name + ".json").toFile());
            Result r = jepd(
                    "generate",
                    "--model",
                    model.toString(),
                    "--image",
                    GOLDEN.resolve("images/" + name + ".png").toString(),
                    "--prompt",
                    json.get("prompt").asText(),
                    "--max-tokens",
                    "16");
            assertEquals(0, r.exit(), r.stderr());
            assertEquals(json.get("generated_text").asText() + "\n", r.stdout());
        }
    }

    @Test
    void textOnlyAndSampledRunsAreReproducible() throws Exception {
        String[] sampled = {
            "generate",
            "--model",
            model.toString(),
            "--prompt",
            "Hello",
            "--max-tokens",
            "8",
            "--temperature",
            "0.8",
            "--seed",
            "7"
        };
        Result a = jepd(sampled);
        Result b = jepd(sampled); // the same command again: the same seed must give the same text
        assertEquals(0, a.exit(), a.stderr());
        assertFalse(a.stdout().isBlank());
        assertEquals(a.stdout(), b.stdout());
    }

    @Test
    void badInputsExitWithOneClearLineAndNoStackTrace() throws Exception {
        Path empty = Files.createFile(tmp.resolve("empty.png"));
        Path text = Files.writeString(tmp.resolve("notes.png"), "this is not an image");
        Object[][] cases = {
            {new String[] {"--image", empty.toString()}, "empty.png"},
            {new String[] {"--image", text.toString()}, "notes.png"},
            {new String[] {"--image", tmp.resolve("missing.png").toString()}, "does not exist"},
        };
        for (Object[] c : cases) {
            List<String> args = new ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt", "x"));
            args.addAll(List.of((String[]) c[0]));
            Result r = jepd(args.toArray(String[]::new));
            assertEquals(1, r.exit(), r.stderr());
            assertTrue(r.stderr().contains("jepd generate: ") && r.stderr().contains((String) c[1]), r.stderr());
            assertFalse(r.stderr().contains("\tat "), "no stack trace: " + r.stderr());
            assertEquals("", r.stdout());
        }
        Result r = jepd("generate", "--model", tmp.resolve("no-model").toString(), "--prompt", "x");
        assertEquals(1, r.exit());
        assertTrue(r.stderr().contains("does not exist"), r.stderr());
    }
}
