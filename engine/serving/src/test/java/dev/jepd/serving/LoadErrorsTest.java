package dev.jepd.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.engine.model.ModelLoadException;
import dev.jepd.engine.model.WeightLoadException;
import dev.jepd.engine.safetensors.SafetensorsException;
import dev.jepd.engine.safetensors.SafetensorsFile;
import dev.jepd.engine.safetensors.SafetensorsWriter;
import dev.jepd.media.ImageDecoder;
import dev.jepd.media.MediaException;
import dev.jepd.models.ModelParts;
import dev.jepd.models.tiny.TinyQwen25VlWriter;
import dev.jepd.models.tiny.TinyQwen25VlWriter.Options;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each broken input is one clear error naming the cause; none crashes the JVM. */
class LoadErrorsTest {
    @TempDir
    Path tmp;

    private static RuntimeException open(Path dir) {
        return assertThrows(
                RuntimeException.class, () -> ModelRuntime.open(dir, RuntimeOptions.defaults(ModelParts.ALL))
                        .close());
    }

    @Test
    void truncatedSafetensors() throws IOException {
        Path dir = TinyQwen25VlWriter.write(tmp.resolve("m"), Options.golden());
        Path file = dir.resolve("model.safetensors");
        byte[] all = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(all, all.length - 1000));
        RuntimeException e = open(dir);
        assertTrue(e instanceof SafetensorsException, e.toString());
        assertTrue(
                e.getMessage().contains("model.safetensors") && e.getMessage().contains("truncated"), e.getMessage());
        Files.write(file, Arrays.copyOf(all, 5));
        assertTrue(open(dir).getMessage().contains("truncated"));
    }

    @Test
    void missingShard() throws IOException {
        Path dir = TinyQwen25VlWriter.write(tmp.resolve("m"), Options.golden().withShards(3));
        Files.delete(dir.resolve("model-00002-of-00003.safetensors"));
        RuntimeException e = open(dir);
        assertTrue(
                e.getMessage().contains("missing shard") && e.getMessage().contains("model-00002-of-00003.safetensors"),
                e.getMessage());
    }

    @Test
    void wrongShapedMissingAndUnexpectedTensorsAllInOneError() throws IOException {
        Path dir = TinyQwen25VlWriter.write(tmp.resolve("m"), Options.golden());
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (var t : f.tensors().values()) {
                if (t.name().equals("model.layers.1.mlp.up_proj.weight")) {
                    continue; // missing
                }
                long[] shape =
                        t.name().equals("model.layers.0.self_attn.q_proj.weight") ? new long[] {32, 128} : t.shape();
                w.put(t.name(), new SafetensorsWriter.Entry(t.dtype(), shape, f.readBytes(t.name())));
            }
            w.put(
                    "model.layers.7.mlp.extra.weight",
                    new SafetensorsWriter.Entry(
                            f.info("model.norm.weight").dtype(),
                            f.info("model.norm.weight").shape(),
                            f.readBytes("model.norm.weight")));
        }
        w.write(file);
        RuntimeException e = open(dir);
        assertTrue(e instanceof WeightLoadException, e.toString());
        String m = e.getMessage();
        assertTrue(m.contains("missing (1): model.layers.1.mlp.up_proj.weight[128, 64]"), m);
        assertTrue(
                m.contains(
                        "model.layers.0.self_attn.q_proj.weight in " + file + ": expected [64, 64], found [32, 128]"),
                m);
        assertTrue(m.contains("unexpected (1): model.layers.7.mlp.extra.weight"), m);
    }

    @Test
    void unknownAndPlannedArchitectures() throws IOException {
        Path dir = TinyQwen25VlWriter.write(tmp.resolve("m"), Options.golden());
        ObjectMapper json = new ObjectMapper();
        ObjectNode cfg = (ObjectNode) json.readTree(dir.resolve("config.json").toFile());
        cfg.putArray("architectures").add("LlamaForCausalLM");
        json.writeValue(dir.resolve("config.json").toFile(), cfg);
        RuntimeException e = open(dir);
        assertTrue(e instanceof ModelLoadException);
        assertEquals(
                "unknown architectures [LlamaForCausalLM] in " + dir + "/config.json; supported: "
                        + dev.jepd.models.ModelRegistry.supported(),
                e.getMessage());
        cfg.putArray("architectures").add("Qwen3VLMoeForConditionalGeneration");
        json.writeValue(dir.resolve("config.json").toFile(), cfg);
        assertTrue(open(dir)
                .getMessage()
                .contains("Qwen3VLMoeForConditionalGeneration (in " + dir + "/config.json) is not implemented"));
        assertTrue(open(tmp.resolve("nope")).getMessage().contains("does not exist"));
    }

    @Test
    void badImages() {
        ImageDecoder d = new ImageDecoder();
        assertEquals(
                MediaException.Reason.EMPTY,
                assertThrows(MediaException.class, () -> d.decode(new byte[0])).reason());
        byte[] corruptPng = {
            (byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 1, 2, 3
        };
        assertEquals(
                MediaException.Reason.UNDECODABLE,
                assertThrows(MediaException.class, () -> d.decode(corruptPng)).reason());
        byte[] webp = "RIFF\0\0\0\0WEBPVP8 ".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        MediaException e = assertThrows(MediaException.class, () -> d.decode(webp));
        assertEquals(MediaException.Reason.UNSUPPORTED_FORMAT, e.reason());
        assertTrue(e.getMessage().toLowerCase().contains("webp"), e.getMessage());
    }
}
