package dev.jepd.models.qwen3vl;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.models.qwen2.Qwen2TextParams;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * config.json of Qwen3-VL (dense): the text decoder under {@code text_config}, the vision tower under
 * {@code vision_config}, the special tokens and {@code tie_word_embeddings} at the top, as the hub checkpoints
 * and transformers 5 write them. The rotary settings are read from {@code rope_parameters} (transformers 5) or
 * {@code rope_scaling} + {@code rope_theta} (the published files).
 */
public record Qwen3VlConfig(
        Text text,
        Vision vision,
        int imageTokenId,
        int videoTokenId,
        int visionStartTokenId,
        int visionEndTokenId,
        boolean tieWordEmbeddings) {

    /** {@code text_config}: the Qwen3 decoder. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Text(
            @JsonProperty("hidden_size") int hiddenSize,
            @JsonProperty("intermediate_size") int intermediateSize,
            @JsonProperty("num_hidden_layers") int numLayers,
            @JsonProperty("num_attention_heads") int numHeads,
            @JsonProperty("num_key_value_heads") Integer numKvHeads,
            @JsonProperty("head_dim") Integer headDim,
            @JsonProperty("vocab_size") int vocabSize,
            @JsonProperty("rms_norm_eps") double rmsNormEps,
            @JsonProperty("max_position_embeddings") int maxPositionEmbeddings,
            @JsonProperty("attention_bias") boolean attentionBias,
            @JsonProperty("hidden_act") String hiddenAct,
            @JsonProperty("rope_theta") Double ropeTheta,
            @JsonProperty("rope_scaling") Rope ropeScaling,
            @JsonProperty("rope_parameters") Rope ropeParameters) {

        /** {@code head_dim}, or hidden / heads where the config leaves it out (transformers' rule). */
        public int resolvedHeadDim() {
            return headDim != null ? headDim : hiddenSize / numHeads;
        }

        public int kvHeads() {
            return numKvHeads != null ? numKvHeads : numHeads;
        }

        private Rope rope() {
            return ropeParameters != null ? ropeParameters : ropeScaling;
        }

        /** transformers' default for Qwen3-VL text is 500000 ({@code Qwen3VLTextConfig.default_theta}). */
        public double theta() {
            Rope r = rope();
            if (r != null && r.ropeTheta() != null) {
                return r.ropeTheta();
            }
            return ropeTheta != null ? ropeTheta : 500000.0;
        }

        /** transformers' {@code rope_parameters.get("mrope_section", [24, 20, 20])}. */
        public int[] mropeSection() {
            Rope r = rope();
            return r != null && r.mropeSection() != null ? r.mropeSection().clone() : new int[] {24, 20, 20};
        }
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Rope(
            @JsonProperty("rope_type") String ropeType,
            @JsonProperty("rope_theta") Double ropeTheta,
            @JsonProperty("mrope_section") int[] mropeSection,
            @JsonProperty("mrope_interleaved") Boolean mropeInterleaved) {}

    /** {@code vision_config}: {@code hidden_size} is the tower's width, {@code out_hidden_size} the LM's. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Vision(
            @JsonProperty("depth") int depth,
            @JsonProperty("hidden_size") int hiddenSize,
            @JsonProperty("hidden_act") String hiddenAct,
            @JsonProperty("intermediate_size") int intermediateSize,
            @JsonProperty("num_heads") int numHeads,
            @JsonProperty("in_channels") Integer inChannels,
            @JsonProperty("patch_size") int patchSize,
            @JsonProperty("spatial_merge_size") int spatialMergeSize,
            @JsonProperty("temporal_patch_size") int temporalPatchSize,
            @JsonProperty("out_hidden_size") int outHiddenSize,
            @JsonProperty("num_position_embeddings") int numPositionEmbeddings,
            @JsonProperty("deepstack_visual_indexes") int[] deepstackVisualIndexes,
            @JsonProperty("rope_parameters") Rope ropeParameters) {

        public int headDim() {
            return hiddenSize / numHeads;
        }

        public int channels() {
            return inChannels != null ? inChannels : 3;
        }

        /** Flattened patch length: C × temporal × patch × patch (1536 for patch 16). */
        public int patchDim() {
            return channels() * temporalPatchSize * patchSize * patchSize;
        }

        public int mergeUnit() {
            return spatialMergeSize * spatialMergeSize;
        }

        /** Side of the learned square position grid, {@code int(num_position_embeddings ** 0.5)}. */
        public int gridPerSide() {
            return (int) Math.sqrt(numPositionEmbeddings);
        }

        public int deepstackLevels() {
            return deepstackVisualIndexes.length;
        }

        /** The vision rotary's base: transformers' axial default 10000. */
        public double ropeTheta() {
            return ropeParameters != null && ropeParameters.ropeTheta() != null ? ropeParameters.ropeTheta() : 10000.0;
        }

        /** A row of the encoder's output: the merger's, then each DeepStack merger's (vLLM's EC layout). */
        public int embedWidth() {
            return outHiddenSize * (1 + deepstackLevels());
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    public static Qwen3VlConfig fromJson(JsonNode root) throws IOException {
        JsonNode t = root.get("text_config");
        JsonNode v = root.get("vision_config");
        if (t == null || !t.isObject() || v == null || !v.isObject()) {
            throw new IllegalArgumentException("config.json needs text_config and vision_config (Qwen3-VL's layout)");
        }
        Text text = JSON.treeToValue(t, Text.class);
        Vision vision = JSON.treeToValue(v, Vision.class);
        List<String> problems = new ArrayList<>();
        if (text.hiddenSize() <= 0 || text.numHeads() <= 0 || text.numLayers() <= 0 || text.vocabSize() <= 0) {
            problems.add("text_config needs hidden_size, num_attention_heads, num_hidden_layers and vocab_size");
        }
        if (text.attentionBias()) {
            problems.add("text_config.attention_bias true is not supported (Qwen3-VL's projections have no bias)");
        }
        if (text.hiddenAct() != null && !text.hiddenAct().equals("silu")) {
            problems.add("text_config.hidden_act " + text.hiddenAct() + " is not supported (silu)");
        }
        if (vision.hiddenSize() <= 0 || vision.numHeads() <= 0 || vision.depth() <= 0 || vision.outHiddenSize() <= 0) {
            problems.add("vision_config needs hidden_size, num_heads, depth and out_hidden_size");
        }
        if (vision.hiddenAct() != null && !vision.hiddenAct().equals("gelu_pytorch_tanh")) {
            problems.add("vision_config.hidden_act " + vision.hiddenAct()
                    + " is not supported (Qwen3-VL uses gelu_pytorch_tanh)");
        }
        if (vision.numPositionEmbeddings() <= 0
                || (long) vision.gridPerSide() * vision.gridPerSide() != vision.numPositionEmbeddings()) {
            problems.add("vision_config.num_position_embeddings " + vision.numPositionEmbeddings()
                    + " must be a positive square (the learned position grid)");
        }
        int[] ds = vision.deepstackVisualIndexes();
        if (ds == null) {
            problems.add("vision_config has no deepstack_visual_indexes");
        } else {
            for (int i : ds) {
                if (i < 0 || i >= vision.depth()) {
                    problems.add("vision_config.deepstack_visual_indexes " + Arrays.toString(ds)
                            + " must name blocks below depth " + vision.depth());
                    break;
                }
            }
            if (ds.length > text.numLayers()) {
                problems.add(ds.length + " DeepStack levels but only " + text.numLayers() + " text layers");
            }
        }
        if (vision.outHiddenSize() != text.hiddenSize()) {
            problems.add("vision_config.out_hidden_size " + vision.outHiddenSize() + " differs from text hidden_size "
                    + text.hiddenSize());
        }
        int[] section = text.mropeSection();
        if (Arrays.stream(section).sum() != text.resolvedHeadDim() / 2 || section.length != 3) {
            problems.add("mrope_section " + Arrays.toString(section) + " must be 3 sections summing to head_dim/2 = "
                    + text.resolvedHeadDim() / 2);
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", problems));
        }
        return new Qwen3VlConfig(
                text,
                vision,
                root.path("image_token_id").asInt(151655),
                root.path("video_token_id").asInt(151656),
                root.path("vision_start_token_id").asInt(151652),
                root.path("vision_end_token_id").asInt(151653),
                // transformers reads the top-level flag only (Qwen3VLConfig's default: false)
                root.path("tie_word_embeddings").asBoolean(false));
    }

    /**
     * The decoder's sizes: Qwen3's (q/k norms, no q/k/v bias), interleaved M-RoPE (transformers'
     * {@code Qwen3VLTextRotaryEmbedding} interleaves whatever {@code mrope_interleaved} says), one DeepStack level
     * per {@code deepstack_visual_indexes} entry.
     */
    public Qwen2TextParams textParams() {
        return new Qwen2TextParams(
                text.hiddenSize(),
                text.intermediateSize(),
                text.numLayers(),
                text.numHeads(),
                text.kvHeads(),
                text.resolvedHeadDim(),
                text.vocabSize(),
                (float) text.rmsNormEps(),
                text.theta(),
                text.mropeSection(),
                true,
                tieWordEmbeddings,
                false,
                true,
                vision.deepstackLevels());
    }
}
