package dev.jepd.models.tiny;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.engine.safetensors.SafetensorsFile;
import dev.jepd.engine.safetensors.SafetensorsWriter;
import dev.jepd.engine.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TinyQwen25VlWriterTest {
    /** sha256 of shared/golden/tiny-qwen2.5-vl/model.safetensors (written by the Python reference). */
    private static final String GOLDEN_SHA256 = "35ab393bbd31266cb95687eb4b7ab7d08b43c8032e6efa7caa3f1ad7b9c2c70b";

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;

    private static Path golden;

    @BeforeAll
    static void writeGolden() throws IOException {
        golden = TinyModels.ensureGolden(tmp.resolve("golden"));
    }

    private static String sha256(Path file) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            try (var in = Files.newInputStream(file)) {
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) {
                    md.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void goldenWeightsAreByteIdentical() throws IOException {
        Path weights = golden.resolve(Checkpoint.SINGLE);
        assertEquals(20_481_128L, Files.size(weights));
        assertEquals(GOLDEN_SHA256, sha256(weights));
        for (String f : List.of(
                "config.json",
                "generation_config.json",
                "preprocessor_config.json",
                "tokenizer.json",
                "tokenizer_config.json")) {
            assertArrayEquals(TinyQwen25VlWriter.resource(f), Files.readAllBytes(golden.resolve(f)), f);
        }
        try (SafetensorsFile f = SafetensorsFile.open(weights)) {
            assertEquals(80, f.names().size());
            assertEquals("pt", f.metadata().get("format"));
            assertArrayEquals(
                    new long[] {80, 3, 2, 14, 14},
                    f.info("visual.patch_embed.proj.weight").shape());
            assertNull(f.info(Qwen25VlLayout.LM_HEAD), "tied: no lm_head.weight, as in the real 3B");
        }
    }

    @Test
    void ensureGoldenLeavesACompleteDirectoryAlone() throws IOException {
        Path weights = golden.resolve(Checkpoint.SINGLE);
        var before = Files.getLastModifiedTime(weights);
        TinyModels.ensureGolden(golden);
        assertEquals(before, Files.getLastModifiedTime(weights));
    }

    /** The streaming writer and the engine's SafetensorsWriter agree byte for byte. */
    @Test
    void streamingWriterMatchesSafetensorsWriter() throws IOException {
        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
        for (TensorSpec t : TinyQwen25VlWriter.tensors(TinyQwen25VlWriter.Options.golden())) {
            w.put(
                    t.name(),
                    SafetensorsWriter.Entry.ofFloats(
                            CounterWeights.floats(t, CounterWeights.GOLDEN_SEED), DType.BF16, t.shape()));
        }
        Path viaEngine = tmp.resolve("via-engine.safetensors");
        w.write(viaEngine);
        assertEquals(GOLDEN_SHA256, sha256(viaEngine));
    }

    @Test
    void f32CopyWidensToTheSameFloats() throws IOException {
        Path f32 = TinyQwen25VlWriter.write(
                tmp.resolve("f32"), TinyQwen25VlWriter.Options.golden().withDtype(DType.F32));
        assertEquals(
                "float32",
                readJson(f32.resolve("config.json")).get("torch_dtype").asText());
        try (SafetensorsFile a = SafetensorsFile.open(golden.resolve(Checkpoint.SINGLE));
                SafetensorsFile b = SafetensorsFile.open(f32.resolve(Checkpoint.SINGLE))) {
            assertEquals(a.names(), b.names());
            for (String name : a.names()) {
                assertEquals(DType.F32, b.info(name).dtype());
                assertArrayEquals(a.info(name).shape(), b.info(name).shape(), name);
                assertSameBits(name, a.readFloats(name), b.readFloats(name));
            }
        }
    }

    @Test
    void shardedCopyHasACompleteIndexAndTheSameFloats() throws IOException {
        Path sharded = TinyQwen25VlWriter.write(
                tmp.resolve("sharded"), TinyQwen25VlWriter.Options.golden().withShards(3));
        assertFalse(Files.exists(sharded.resolve(Checkpoint.SINGLE)));
        JsonNode index = readJson(sharded.resolve(Checkpoint.INDEX));
        Map<String, String> weightMap = new HashMap<>();
        index.get("weight_map")
                .properties()
                .forEach(e -> weightMap.put(e.getKey(), e.getValue().asText()));
        assertEquals(
                Set.of(
                        "model-00001-of-00003.safetensors",
                        "model-00002-of-00003.safetensors",
                        "model-00003-of-00003.safetensors"),
                Set.copyOf(weightMap.values()));
        long totalSize = 0;
        List<String> inShards = new ArrayList<>();
        for (String file : new TreeSet<>(weightMap.values())) {
            try (SafetensorsFile f = SafetensorsFile.open(sharded.resolve(file))) {
                assertFalse(f.names().isEmpty(), file + " is empty");
                for (String name : f.names()) {
                    inShards.add(name);
                    assertEquals(file, weightMap.get(name), name + " is mapped to another shard");
                    totalSize += f.info(name).byteSize();
                }
            }
        }
        assertEquals(totalSize, index.get("metadata").get("total_size").asLong());
        try (Checkpoint single = Checkpoint.open(golden);
                Checkpoint split = Checkpoint.open(sharded)) {
            assertEquals(single.names(), weightMap.keySet(), "every tensor in the index");
            assertEquals(single.names().size(), inShards.size(), "every tensor in exactly one shard");
            assertEquals(single.names(), new TreeSet<>(inShards));
            for (String name : single.names()) {
                assertSameBits(name, single.readFloats(name), split.readFloats(name));
            }
        }
        // Rewriting the directory as a single file removes the index and the shards.
        TinyQwen25VlWriter.write(sharded, TinyQwen25VlWriter.Options.golden());
        assertFalse(Files.exists(sharded.resolve(Checkpoint.INDEX)));
        assertEquals(GOLDEN_SHA256, sha256(sharded.resolve(Checkpoint.SINGLE)));
        try (var files = Files.list(sharded)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().startsWith("model-")));
        }
    }

    @Test
    void untiedVariantHasAnLmHead() throws IOException {
        Path untied = TinyQwen25VlWriter.write(
                tmp.resolve("untied"), TinyQwen25VlWriter.Options.golden().withTiedEmbeddings(false));
        JsonNode config = readJson(untied.resolve("config.json"));
        assertFalse(config.get("tie_word_embeddings").asBoolean(true));
        assertEquals(64, config.get("hidden_size").asInt(), "everything else as in the golden config");
        try (Checkpoint c = Checkpoint.open(untied);
                Checkpoint g = Checkpoint.open(golden)) {
            assertEquals(81, c.names().size());
            TensorInfo head = c.info(Qwen25VlLayout.LM_HEAD);
            assertNotNull(head);
            assertArrayEquals(new long[] {151936, 64}, head.shape());
            assertFalse(
                    java.util.Arrays.equals(
                            c.readFloats(Qwen25VlLayout.LM_HEAD), g.readFloats("model.embed_tokens.weight")),
                    "the head has its own values");
            assertSameBits(
                    "embed", g.readFloats("model.embed_tokens.weight"), c.readFloats("model.embed_tokens.weight"));
        }
    }

    @Test
    void qwen3BShapedLayoutAndConfig() {
        var full = TinyQwen25VlWriter.Options.golden().withShape(new TinyQwen25VlWriter.Qwen3BShaped(36, 32));
        JsonNode config = TinyQwen25VlWriter.config(full);
        assertEquals(2048, config.get("hidden_size").asInt());
        assertEquals(36, config.get("num_hidden_layers").asInt());
        assertEquals(
                "[16,24,24]", config.get("rope_scaling").get("mrope_section").toString());
        assertEquals(
                "[7,15,23,31]",
                config.get("vision_config").get("fullatt_block_indexes").toString());
        assertEquals(112, config.get("vision_config").get("window_size").asInt());
        Map<String, long[]> shapes = new HashMap<>();
        long params = 0;
        for (TensorSpec t : TinyQwen25VlWriter.tensors(full)) {
            shapes.put(t.name(), t.shape());
            params += t.numel();
        }
        assertArrayEquals(new long[] {256, 2048}, shapes.get("model.layers.35.self_attn.k_proj.weight"));
        assertArrayEquals(new long[] {11008, 2048}, shapes.get("model.layers.0.mlp.gate_proj.weight"));
        assertArrayEquals(new long[] {3840, 1280}, shapes.get("visual.blocks.31.attn.qkv.weight"));
        assertArrayEquals(new long[] {3420, 1280}, shapes.get("visual.blocks.0.mlp.up_proj.weight"));
        assertArrayEquals(new long[] {5120, 5120}, shapes.get("visual.merger.mlp.0.weight"));
        assertArrayEquals(new long[] {2048, 5120}, shapes.get("visual.merger.mlp.2.weight"));
        assertArrayEquals(new long[] {1280, 3, 2, 14, 14}, shapes.get("visual.patch_embed.proj.weight"));
        assertEquals(36 * 12 + 32 * 12 + 8, shapes.size());
        // Qwen2.5-VL-3B-Instruct's index.json: total_size 7,509,245,952 bytes of bf16.
        assertEquals(7_509_245_952L / 2, params);

        var small = full.withShape(new TinyQwen25VlWriter.Qwen3BShaped(2, 1));
        assertEquals(
                2, TinyQwen25VlWriter.config(small).get("num_hidden_layers").asInt());
        assertEquals(
                1,
                TinyQwen25VlWriter.config(small)
                        .get("vision_config")
                        .get("depth")
                        .asInt());
        // 1/sqrt(fan_in) scales: q_proj 1.5/sqrt(2048), down_proj 3/sqrt(11008).
        for (TensorSpec t : TinyQwen25VlWriter.tensors(small)) {
            if (t.name().equals("model.layers.1.self_attn.q_proj.weight")) {
                assertEquals(1.5 / Math.sqrt(2048), t.scale());
            }
            if (t.name().equals("model.layers.0.mlp.down_proj.weight")) {
                assertEquals(3 / Math.sqrt(11008), t.scale());
            }
        }
    }

    @Test
    void rejectsBadOptions() {
        assertThrows(IllegalArgumentException.class, () -> TinyQwen25VlWriter.Options.golden()
                .withDtype(DType.F16));
        assertThrows(IllegalArgumentException.class, () -> TinyQwen25VlWriter.Options.golden()
                .withShards(0));
        assertThrows(IllegalArgumentException.class, () -> new TinyQwen25VlWriter.Qwen3BShaped(0, 1));
        var tensors = TinyQwen25VlWriter.tensors(TinyQwen25VlWriter.Options.golden());
        assertThrows(IllegalArgumentException.class, () -> TinyQwen25VlWriter.shard(tensors, 81, DType.BF16));
        var all = TinyQwen25VlWriter.shard(tensors, 80, DType.BF16);
        assertEquals(80, all.size());
        assertTrue(all.stream().allMatch(s -> s.size() == 1));
    }

    private static void assertSameBits(String name, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, name);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError(name + "[" + i + "]: " + expected[i] + " != " + actual[i]);
            }
        }
    }

    private static JsonNode readJson(Path p) throws IOException {
        return JSON.readTree(p.toFile());
    }
}
