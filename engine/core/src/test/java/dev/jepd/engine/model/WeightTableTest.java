package dev.jepd.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class WeightTableTest {
    private static WeightTable table() {
        return WeightTable.builder("model.layers.{}.", 2)
                .top("model.embed_tokens.weight", 10, 4)
                .layer("self_attn.q_proj.weight", 4, 4)
                .layer("input_layernorm.weight", 4)
                .build();
    }

    @Test
    void expandsLayerRelativeNamesUnderThePrefix() {
        List<String> names =
                table().expand().stream().map(WeightSpec.Expected::name).toList();
        assertEquals(
                List.of(
                        "model.embed_tokens.weight",
                        "model.layers.0.self_attn.q_proj.weight",
                        "model.layers.1.self_attn.q_proj.weight",
                        "model.layers.0.input_layernorm.weight",
                        "model.layers.1.input_layernorm.weight"),
                names);
        assertArrayEquals(new long[] {4, 4}, table().expand().get(2).shape());
        assertEquals("model.layers.1.input_layernorm.weight", table().layerName(1, "input_layernorm.weight"));
    }

    @Test
    void rejectsDuplicatesAndPrefixesWithoutALayerIndex() {
        assertThrows(
                IllegalArgumentException.class,
                () -> WeightTable.builder("model.layers.{}.", 1).layer("a", 1).layer("a", 2));
        assertThrows(IllegalArgumentException.class, () -> WeightTable.builder("model.layers.", 1)
                .build());
    }
}
