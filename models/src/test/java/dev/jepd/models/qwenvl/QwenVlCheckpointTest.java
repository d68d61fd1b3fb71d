package dev.jepd.models.qwenvl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.model.WeightLoadException;
import dev.jepd.engine.model.WeightSpec;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.safetensors.SafetensorsFile;
import dev.jepd.engine.safetensors.SafetensorsWriter;
import dev.jepd.models.qwen25vl.Qwen25VlConfig;
import dev.jepd.models.qwen25vl.Qwen25VlWeights;
import dev.jepd.models.tiny.TinyQwen25VlWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The prefix map: every Hugging Face spelling of a Qwen-VL checkpoint resolves to the tables' names. */
class QwenVlCheckpointTest {
    @TempDir
    static Path tmp;

    static Path published;
    static Qwen25VlConfig config;

    @BeforeAll
    static void write() throws IOException {
        published = TinyQwen25VlWriter.write(
                tmp.resolve("published"), TinyQwen25VlWriter.Options.golden().withTiedEmbeddings(false));
        config = Qwen25VlConfig.read(published.resolve("config.json"));
    }

    /** The published checkpoint with every tensor renamed. */
    private static Path renamed(String name, UnaryOperator<String> rename) throws IOException {
        Path file = tmp.resolve(name + ".safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(published.resolve(Checkpoint.SINGLE))) {
            for (var t : f.tensors().values()) {
                w.put(rename.apply(t.name()), new SafetensorsWriter.Entry(t.dtype(), t.shape(), f.readBytes(t.name())));
            }
        }
        w.write(file);
        return file;
    }

    /** transformers 5 ({@code _checkpoint_conversion_mapping}'s target): model.visual., model.language_model. */
    private static String transformers5(String n) {
        if (n.startsWith("visual.")) {
            return "model." + n;
        }
        return n.startsWith("model.") ? "model.language_model." + n.substring("model.".length()) : n;
    }

    /** The older nesting: language_model.model., language_model.lm_head. */
    private static String nested(String n) {
        return n.startsWith("visual.") ? n : "language_model." + n;
    }

    private static void assertResolves(Path file, UnaryOperator<String> rename) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            List<WeightSpec> language = Qwen25VlWeights.language(config);
            List<WeightSpec> vision = Qwen25VlWeights.vision(config);
            Map<String, String> text = QwenVlCheckpoint.languageLoader().check(f, language, "text");
            Map<String, String> tower = QwenVlCheckpoint.visionLoader().check(f, vision, "vision");
            List<WeightSpec.Expected> all = new ArrayList<>();
            language.forEach(s -> all.addAll(s.expand()));
            vision.forEach(s -> all.addAll(s.expand()));
            assertEquals(81, all.size());
            assertEquals(all.size(), text.size() + tower.size());
            for (WeightSpec.Expected e : all) {
                String stored = text.containsKey(e.name()) ? text.get(e.name()) : tower.get(e.name());
                assertEquals(rename.apply(e.name()), stored, e.name());
            }
        }
    }

    @Test
    void publishedLayoutResolvesToItself() {
        assertResolves(published.resolve(Checkpoint.SINGLE), UnaryOperator.identity());
    }

    @Test
    void transformers5LayoutResolves() throws IOException {
        Path file = renamed("t5", QwenVlCheckpointTest::transformers5);
        assertResolves(file, QwenVlCheckpointTest::transformers5);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertTrue(f.names().contains("model.language_model.layers.1.mlp.up_proj.weight"));
            assertTrue(f.names().contains("model.visual.merger.mlp.2.bias"));
            assertTrue(f.names().contains("lm_head.weight"), "the head stays at the top level");
        }
    }

    @Test
    void languageModelNestingResolves() throws IOException {
        assertResolves(renamed("nested", QwenVlCheckpointTest::nested), QwenVlCheckpointTest::nested);
    }

    @Test
    void unknownPrefixesAreUnexpectedNotIgnored() throws IOException {
        Path file = renamed("odd", n -> n.startsWith("model.") ? "decoder." + n : n);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            WeightLoadException e = assertThrows(WeightLoadException.class, () -> QwenVlCheckpoint.languageLoader()
                    .check(f, Qwen25VlWeights.language(config), "text"));
            assertTrue(e.getMessage().contains("missing (") && e.getMessage().contains("unexpected ("), e.getMessage());
            assertTrue(e.getMessage().contains("decoder.model.norm.weight"), e.getMessage());
        }
    }
}
