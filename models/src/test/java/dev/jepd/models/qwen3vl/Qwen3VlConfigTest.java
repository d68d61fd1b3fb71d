package dev.jepd.models.qwen3vl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.engine.model.WeightSpec;
import dev.jepd.models.qwen2.Qwen2TextParams;
import dev.jepd.models.qwen2.Qwen2Weights;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** Qwen3-VL's config.json as the hub publishes it (Qwen/Qwen3-VL-4B-Instruct) and the tables it implies. */
class Qwen3VlConfigTest {
    /** Qwen/Qwen3-VL-4B-Instruct's config.json (transformers 4.57 layout, as published). */
    static final String HUB_4B = """
            {
              "architectures": ["Qwen3VLForConditionalGeneration"],
              "image_token_id": 151655,
              "model_type": "qwen3_vl",
              "text_config": {
                "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 151643, "dtype": "bfloat16",
                "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 2560,
                "initializer_range": 0.02, "intermediate_size": 9728, "max_position_embeddings": 262144,
                "model_type": "qwen3_vl_text", "num_attention_heads": 32, "num_hidden_layers": 36,
                "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
                "rope_scaling": {"mrope_interleaved": true, "mrope_section": [24, 20, 20], "rope_type": "default"},
                "rope_theta": 5000000, "tie_word_embeddings": true, "use_cache": true, "vocab_size": 151936
              },
              "tie_word_embeddings": true,
              "transformers_version": "4.57.0.dev0",
              "video_token_id": 151656,
              "vision_config": {
                "deepstack_visual_indexes": [5, 11, 17], "depth": 24, "hidden_act": "gelu_pytorch_tanh",
                "hidden_size": 1024, "in_channels": 3, "initializer_range": 0.02, "intermediate_size": 4096,
                "model_type": "qwen3_vl", "num_heads": 16, "num_position_embeddings": 2304, "out_hidden_size": 2560,
                "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2
              },
              "vision_end_token_id": 151653,
              "vision_start_token_id": 151652
            }
            """;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void theHubConfigGivesTheDecoderAndTheEcWidth() throws Exception {
        Qwen3VlConfig c = Qwen3VlConfig.fromJson(JSON.readTree(HUB_4B));
        Qwen2TextParams p = c.textParams();
        assertEquals(2560, p.hidden());
        assertEquals(128, p.headDim());
        assertEquals(8, p.kvHeads());
        assertEquals(5_000_000.0, p.ropeTheta());
        assertArrayEquals(new int[] {24, 20, 20}, p.mropeSection());
        assertTrue(p.mropeInterleaved() && p.qkNorm() && !p.qkvBias() && p.tiedEmbeddings());
        assertEquals(3, p.deepstackLevels());
        assertEquals(2560 * 4, p.embedWidth());
        assertEquals(2560 * 4, c.vision().embedWidth());
        assertEquals(48, c.vision().gridPerSide());
        assertEquals(16 * 2 * 3 * 16, c.vision().patchDim());
        assertEquals(10000.0, c.vision().ropeTheta());

        Map<String, long[]> vision = Qwen3VlWeights.visionTable(c).expand().stream()
                .collect(Collectors.toMap(WeightSpec.Expected::name, WeightSpec.Expected::shape));
        assertArrayEquals(new long[] {1024, 3, 2, 16, 16}, vision.get("visual.patch_embed.proj.weight"));
        assertArrayEquals(new long[] {1024}, vision.get("visual.patch_embed.proj.bias"));
        assertArrayEquals(new long[] {2304, 1024}, vision.get("visual.pos_embed.weight"));
        assertArrayEquals(new long[] {1024}, vision.get("visual.merger.norm.weight"));
        assertArrayEquals(new long[] {4096}, vision.get("visual.deepstack_merger_list.2.norm.weight"));
        assertArrayEquals(new long[] {2560, 4096}, vision.get("visual.deepstack_merger_list.2.linear_fc2.weight"));
        assertArrayEquals(new long[] {4096, 1024}, vision.get("visual.blocks.23.mlp.linear_fc1.weight"));
        assertFalse(vision.containsKey("visual.deepstack_merger_list.3.norm.weight"));

        Map<String, long[]> text = Qwen2Weights.table(p).expand().stream()
                .collect(Collectors.toMap(WeightSpec.Expected::name, WeightSpec.Expected::shape));
        assertArrayEquals(new long[] {128}, text.get("model.layers.35.self_attn.q_norm.weight"));
        assertArrayEquals(new long[] {4096, 2560}, text.get("model.layers.0.self_attn.q_proj.weight"));
        assertFalse(text.containsKey("model.layers.0.self_attn.q_proj.bias"));
        assertFalse(text.containsKey("lm_head.weight"));
    }

    @Test
    void transformers5sRopeParametersSpellingReadsAlike() throws Exception {
        ObjectNode root = (ObjectNode) JSON.readTree(HUB_4B);
        ObjectNode text = (ObjectNode) root.get("text_config");
        ObjectNode rope = (ObjectNode) text.remove("rope_scaling");
        rope.set("rope_theta", text.remove("rope_theta"));
        text.set("rope_parameters", rope);
        Qwen3VlConfig c = Qwen3VlConfig.fromJson(root);
        assertEquals(5_000_000.0, c.textParams().ropeTheta());
        assertArrayEquals(new int[] {24, 20, 20}, c.textParams().mropeSection());
    }

    @Test
    void anUnsupportedConfigNamesEveryProblem() throws Exception {
        ObjectNode root = (ObjectNode) JSON.readTree(HUB_4B);
        ObjectNode v = (ObjectNode) root.get("vision_config");
        v.put("hidden_act", "quick_gelu");
        v.putArray("deepstack_visual_indexes").add(5).add(24);
        ((ObjectNode) root.get("text_config")).put("attention_bias", true);
        JsonNode broken = root;
        var e = assertThrows(IllegalArgumentException.class, () -> Qwen3VlConfig.fromJson(broken));
        String m = e.getMessage();
        assertTrue(m.contains("hidden_act quick_gelu"), m);
        assertTrue(m.contains("deepstack_visual_indexes [5, 24]"), m);
        assertTrue(m.contains("attention_bias"), m);
    }
}
