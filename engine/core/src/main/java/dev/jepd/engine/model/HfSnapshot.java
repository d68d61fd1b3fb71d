package dev.jepd.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A Hugging Face snapshot directory: config.json (whose {@code architectures} picks the implementation),
 * generation_config.json, preprocessor_config.json, tokenizer.json and the safetensors weights.
 */
public record HfSnapshot(Path dir, JsonNode config, List<String> architectures, GenerationConfig generation) {
    public static HfSnapshot open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ModelLoadException("model directory " + dir + " does not exist (no model is downloaded at run"
                    + " time: pass a local Hugging Face snapshot directory)");
        }
        Path config = dir.resolve("config.json");
        if (!Files.isRegularFile(config)) {
            throw new ModelLoadException(dir + " has no config.json: not a Hugging Face snapshot directory");
        }
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(config.toFile());
        } catch (IOException e) {
            throw new ModelLoadException(config + " is not valid JSON: " + e.getMessage());
        }
        List<String> arch = new ArrayList<>();
        root.path("architectures").forEach(a -> arch.add(a.asText()));
        if (arch.isEmpty()) {
            throw new ModelLoadException(config + " names no architectures");
        }
        return new HfSnapshot(
                dir, root, List.copyOf(arch), GenerationConfig.read(dir.resolve("generation_config.json")));
    }

    public Path file(String name) {
        return dir.resolve(name);
    }

    public Path tokenizerJson() {
        return dir.resolve("tokenizer.json");
    }

    public Path preprocessorConfig() {
        return dir.resolve("preprocessor_config.json");
    }
}
