package dev.jepd.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * generation_config.json: the EOS ids (an int or a list) and the sampling defaults a checkpoint ships
 * (vLLM's {@code --generation-config auto}). Absent file: no defaults.
 */
public record GenerationConfig(List<Integer> eosTokenIds, Double temperature, Double topP, Integer topK) {
    public static final GenerationConfig NONE = new GenerationConfig(List.of(), null, null, null);

    public static GenerationConfig read(Path file) {
        if (!Files.isRegularFile(file)) {
            return NONE;
        }
        try {
            JsonNode n = new ObjectMapper().readTree(file.toFile());
            List<Integer> eos = new ArrayList<>();
            JsonNode e = n.get("eos_token_id");
            if (e != null && e.isArray()) {
                e.forEach(x -> eos.add(x.asInt()));
            } else if (e != null && e.isInt()) {
                eos.add(e.asInt());
            }
            boolean sample = n.path("do_sample").asBoolean(false);
            return new GenerationConfig(
                    List.copyOf(eos),
                    sample && n.has("temperature") ? n.get("temperature").asDouble() : null,
                    sample && n.has("top_p") ? n.get("top_p").asDouble() : null,
                    sample && n.has("top_k") ? n.get("top_k").asInt() : null);
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot read " + file + ": " + ex.getMessage(), ex);
        }
    }
}
