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

    public static Path root() {
        try {
            return Path.of(GoldenCase.class.getResource("/golden/README.md").toURI())
                    .getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static GoldenCase load(String name) {
        Path dir = root();
        try {
            JsonNode json = new ObjectMapper()
                    .readTree(dir.resolve("cases/" + name + ".json").toFile());
            return new GoldenCase(
                    name,
                    json,
                    SafetensorsFile.open(dir.resolve("cases/" + name + ".safetensors")),
                    dir.resolve(json.get("image").asText()));
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
}
