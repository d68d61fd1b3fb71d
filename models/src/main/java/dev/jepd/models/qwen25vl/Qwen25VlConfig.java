package dev.jepd.models.qwen25vl;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;

/**
 * config.json of Qwen2.5-VL (and Qwen2-VL, which shares the layout). Both spellings are read: the
 * original flat one of the published checkpoints and transformers 5's {@code text_config} nesting.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record Qwen25VlConfig(
        @JsonProperty("architectures") List<String> architectures,
        @JsonProperty("model_type") String modelType,
        @JsonProperty("hidden_size") int hiddenSize,
        @JsonProperty("intermediate_size") int intermediateSize,
        @JsonProperty("num_hidden_layers") int numLayers,
        @JsonProperty("num_attention_heads") int numHeads,
        @JsonProperty("num_key_value_heads") int numKvHeads,
        @JsonProperty("rms_norm_eps") double rmsNormEps,
        @JsonProperty("rope_theta") double ropeTheta,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("tie_word_embeddings") boolean tieWordEmbeddings,
        @JsonProperty("max_position_embeddings") int maxPositionEmbeddings,
        @JsonProperty("rope_scaling") RopeScaling ropeScaling,
        @JsonProperty("image_token_id") int imageTokenId,
        @JsonProperty("video_token_id") int videoTokenId,
        @JsonProperty("vision_start_token_id") int visionStartTokenId,
        @JsonProperty("vision_end_token_id") int visionEndTokenId,
        @JsonProperty("vision_config") VisionConfig vision) {

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record RopeScaling(
            @JsonProperty("type") String type,
            @JsonProperty("rope_type") String ropeType,
            @JsonProperty("mrope_section") int[] mropeSection) {}

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record VisionConfig(
            @JsonProperty("depth") int depth,
            @JsonProperty("hidden_size") int hiddenSize,
            @JsonProperty("intermediate_size") int intermediateSize,
            @JsonProperty("num_heads") int numHeads,
            @JsonProperty("in_chans") Integer inChans,
            @JsonProperty("out_hidden_size") int outHiddenSize,
            @JsonProperty("patch_size") int patchSize,
            @JsonProperty("spatial_merge_size") int spatialMergeSize,
            @JsonProperty("temporal_patch_size") int temporalPatchSize,
            @JsonProperty("window_size") int windowSize,
            @JsonProperty("fullatt_block_indexes") int[] fullAttBlockIndexes,
            @JsonProperty("hidden_act") String hiddenAct) {
        public int headDim() {
            return hiddenSize / numHeads;
        }

        public int channels() {
            return inChans == null ? 3 : inChans;
        }

        /** Flattened patch length: C × temporal × patch × patch (1176 for Qwen2.5-VL). */
        public int patchDim() {
            return channels() * temporalPatchSize * patchSize * patchSize;
        }

        public int mergeUnit() {
            return spatialMergeSize * spatialMergeSize;
        }

        public boolean isFullAttention(int block) {
            for (int i : fullAttBlockIndexes) {
                if (i == block) {
                    return true;
                }
            }
            return false;
        }
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }

    public int[] mropeSection() {
        if (ropeScaling == null || ropeScaling.mropeSection() == null) {
            throw new IllegalArgumentException("config.json has no rope_scaling.mrope_section");
        }
        return ropeScaling.mropeSection();
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    public static Qwen25VlConfig read(Path configJson) {
        try {
            return fromJson(JSON.readTree(configJson.toFile()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + configJson + ": " + e.getMessage(), e);
        }
    }

    /** Flattens transformers 5's {@code text_config} (and {@code rope_parameters}) onto the top level. */
    public static Qwen25VlConfig fromJson(JsonNode root) throws IOException {
        ObjectNode flat = ((ObjectNode) root).deepCopy();
        JsonNode text = root.get("text_config");
        if (text != null && text.isObject()) {
            text.fields().forEachRemaining(e -> {
                if (!flat.has(e.getKey())
                        || e.getKey().endsWith("_size")
                        || e.getKey().startsWith("num_")) {
                    flat.set(e.getKey(), e.getValue());
                }
            });
        }
        JsonNode rope = flat.get("rope_parameters");
        if (rope != null && rope.isObject()) {
            if (!flat.has("rope_theta") && rope.has("rope_theta")) {
                flat.set("rope_theta", rope.get("rope_theta"));
            }
            if (!flat.has("rope_scaling")) {
                flat.set("rope_scaling", rope);
            }
        }
        if (!flat.has("tie_word_embeddings")) {
            flat.put("tie_word_embeddings", false);
        }
        return JSON.treeToValue(flat, Qwen25VlConfig.class);
    }
}
