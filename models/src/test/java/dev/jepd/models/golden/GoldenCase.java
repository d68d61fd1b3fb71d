package dev.jepd.models.golden;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.engine.safetensors.SafetensorsFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Path;

/** One case of the Hugging Face golden fixture in the test resources (see golden/README.md). */
public record GoldenCase(String name, JsonNode json, SafetensorsFile tensors, Path image) implements AutoCloseable {
    public static final String[] NAMES = {"img_112x84", "img_100x61"};

    /**
     * The golden folder: this module's test resources, also when the helpers run from the models test-jar in a module
     * above (then the checkout's {@code models/src/test/resources/golden}, found from the working directory up).
     */
    public static Path root() {
        try {
            java.net.URL url = GoldenCase.class.getResource("/golden/README.md");
            if (url != null && url.getProtocol().equals("file")) {
                return Path.of(url.toURI()).getParent();
            }
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path golden = d.resolve("models/src/test/resources/golden");
            if (java.nio.file.Files.isRegularFile(golden.resolve("README.md"))) {
                return golden;
            }
        }
        throw new IllegalStateException("models/src/test/resources/golden not found above "
                + Path.of("").toAbsolutePath());
    }

    public static GoldenCase load(String name) {
        return load(root(), name);
    }

    private static GoldenCase load(Path dir, String name) {
        try {
            JsonNode json = new ObjectMapper()
                    .readTree(dir.resolve("cases/" + name + ".json").toFile());
            return new GoldenCase(
                    name,
                    json,
                    SafetensorsFile.open(dir.resolve("cases/" + name + ".safetensors")),
                    root().resolve(json.get("image").asText()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public float[] floats(String tensor) {
        return tensors.readFloats(tensor);
    }

    public long[] longs(String tensor) {
        return tensors.readLongs(tensor);
    }

    public long[] shape(String tensor) {
        return tensors.info(tensor).shape();
    }

    /**
     * The case's main and DeepStack embeddings side by side per token (Qwen3-VL: vLLM's EC layout {@code [main |
     * level 0 | level 1 …]}); {@code levels} 0 gives the main embeddings alone.
     */
    public float[] ecRows(int hidden, int levels) {
        float[] main = floats("vision_embeds");
        if (levels == 0) {
            return main;
        }
        float[] deepstack = floats("vision_deepstack");
        int tokens = main.length / hidden;
        int width = hidden * (1 + levels);
        float[] out = new float[tokens * width];
        for (int t = 0; t < tokens; t++) {
            System.arraycopy(main, t * hidden, out, t * width, hidden);
            for (int j = 0; j < levels; j++) {
                System.arraycopy(deepstack, (j * tokens + t) * hidden, out, t * width + (1 + j) * hidden, hidden);
            }
        }
        return out;
    }

    public static float maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("length " + a.length + " vs " + b.length);
        }
        float m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    @Override
    public void close() {
        tensors.close();
    }

    /** One sequence's chunk as the scheduler would run it: packed into a step batch, in a step scope of its own. */
    public static float[] forward(
            dev.jepd.engine.model.CausalLm lm,
            dev.jepd.tensor.TensorBackend backend,
            dev.jepd.engine.model.SequenceChunk chunk,
            dev.jepd.engine.kv.PagedKvStore kv) {
        var shape = lm.shape();
        var batch =
                dev.jepd.engine.model.StepBatch.pack(java.util.List.of(chunk), shape.ropeAxes(), shape.embedWidth());
        try (dev.jepd.tensor.Scope step = backend.open()) {
            return lm.forward(batch, kv, backend.ops(step)).toFloats();
        }
    }

    /** The index of the largest value (the first of equals), as greedy sampling picks. */
    public static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) {
            if (a[i] > a[best]) {
                best = i;
            }
        }
        return best;
    }
}
