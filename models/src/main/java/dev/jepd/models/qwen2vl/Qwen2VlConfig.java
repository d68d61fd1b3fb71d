package dev.jepd.models.qwen2vl;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.models.qwen25vl.Qwen25VlConfig;
import java.io.IOException;

/**
 * config.json of Qwen2-VL: the text part is Qwen2.5-VL's ({@link Qwen25VlConfig}, both spellings), the
 * vision part has Qwen2-VL's own keys, where {@code hidden_size} is the <em>output</em> width (the LM's) and
 * the tower's width is {@code embed_dim}.
 */
public record Qwen2VlConfig(Qwen25VlConfig text, Vision vision) {

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Vision(
            @JsonProperty("depth") int depth,
            @JsonProperty("embed_dim") int embedDim,
            @JsonProperty("hidden_size") int outHiddenSize,
            @JsonProperty("mlp_ratio") double mlpRatio,
            @JsonProperty("num_heads") int numHeads,
            @JsonProperty("in_chans") Integer inChans,
            @JsonProperty("in_channels") Integer inChannels,
            @JsonProperty("patch_size") int patchSize,
            @JsonProperty("spatial_merge_size") int spatialMergeSize,
            @JsonProperty("temporal_patch_size") int temporalPatchSize,
            @JsonProperty("hidden_act") String hiddenAct) {
        public int headDim() {
            return embedDim / numHeads;
        }

        /** The MLP's width, {@code int(embed_dim * mlp_ratio)} as transformers computes it. */
        public int mlpDim() {
            return (int) (embedDim * mlpRatio);
        }

        public int channels() {
            return inChannels != null ? inChannels : inChans != null ? inChans : 3;
        }

        /** Flattened patch length: C × temporal × patch × patch (1176 for patch 14). */
        public int patchDim() {
            return channels() * temporalPatchSize * patchSize * patchSize;
        }

        public int mergeUnit() {
            return spatialMergeSize * spatialMergeSize;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    public static Qwen2VlConfig fromJson(JsonNode root) throws IOException {
        JsonNode v = root.get("vision_config");
        if (v == null || !v.isObject()) {
            throw new IllegalArgumentException("config.json has no vision_config");
        }
        Vision vision = JSON.treeToValue(v, Vision.class);
        if (vision.embedDim() <= 0 || vision.numHeads() <= 0 || vision.depth() <= 0) {
            throw new IllegalArgumentException(
                    "vision_config needs embed_dim, num_heads and depth (Qwen2-VL's keys), got " + v);
        }
        if (vision.hiddenAct() != null && !vision.hiddenAct().equals("quick_gelu")) {
            throw new IllegalArgumentException(
                    "vision_config.hidden_act " + vision.hiddenAct() + " is not supported (Qwen2-VL uses quick_gelu)");
        }
        return new Qwen2VlConfig(Qwen25VlConfig.fromJson(root), vision);
    }
}
