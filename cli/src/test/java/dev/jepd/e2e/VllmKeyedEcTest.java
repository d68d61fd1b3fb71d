package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.models.golden.GoldenCase;
import dev.jepd.models.tiny.TinyModels;
import dev.jepd.transfer.ec.EcTransferConfig;
import dev.jepd.transfer.ec.SharedStorageEcConnector;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * An EC file keyed by vLLM's rule, not by JEPD's own encoder, is a hit on a JEPD PD node for a request that
 * carries no uuid: the key is vLLM's hash of the byte stream its own {@code MultiModalHasher} fed the
 * hasher for this image (the goldens of {@code engine/transfer}'s {@code ec/mm_hash}, made with vLLM's code),
 * with only the model id replaced by this node's model string, as vLLM hashes {@code model_config.model}.
 * The entry holds Hugging Face's own embeddings, so the answer must be Hugging Face's text.
 */
class VllmKeyedEcTest {
    /** engine/transfer's goldens, found from the working directory up (the module's or the checkout's). */
    static Path goldensFile() {
        return goldensFile("goldens.json");
    }

    static Path goldensFile(String name) {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path f = d.resolve("engine/transfer/src/test/resources/ec/mm_hash/" + name);
            if (Files.isRegularFile(f)) {
                return f;
            }
        }
        throw new IllegalStateException("engine/transfer/src/test/resources/ec/mm_hash/" + name + " not found");
    }

    @Test
    void anEcFileKeyedByVllmsSortedFormatIsAHitForARequestWithoutAUuid() throws Exception {
        Path model =
                TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        Path ec = Files.createTempDirectory(Path.of("target").toAbsolutePath(), "ec-vllm-");
        JsonNode goldens = Http.JSON.readTree(goldensFile().toFile());
        String imageName = "img_100x61";
        byte[] image = Files.readAllBytes(GoldenCase.root().resolve("images/" + imageName + ".png"));
        JsonNode chunks = null;
        for (JsonNode c : goldens.path("cases")) {
            if (c.path("image").asText().equals(imageName + ".png")
                    && c.path("url_kind").asText().equals("data")
                    && c.path("uuid").isNull()) {
                chunks = c.path("formats").path("UNFRAMED_SORTED").path("blake3_chunks_hex");
            }
        }
        String goldenModel = goldens.path("model").asText();
        // vLLM's stream for this item, its model id swapped for ours: sha256 of the chunks in vLLM's order
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        for (JsonNode chunk : chunks) {
            String hex = chunk.asText();
            byte[] bytes = hex.equals("@image") ? image : HexFormat.of().parseHex(hex);
            if (new String(bytes, StandardCharsets.UTF_8).equals(goldenModel)) {
                bytes = model.toString().getBytes(StandardCharsets.UTF_8);
            }
            stream.writeBytes(bytes);
        }
        String key =
                HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(stream.toByteArray()));

        assertHitOnPd("pd-vllm-keys", model, ec, key, "sorted", imageName, image);
    }

    /**
     * The framed era (vLLM PR #54283) with an image that PIL opens as RGBA: vLLM converts it and hashes its
     * {@code io_config} with the bytes (PR #49975). The PNG is the golden image's pixels with an opaque alpha band, so
     * Hugging Face's embeddings and answer for the RGB image still hold; the key is vLLM's framed stream for the RGBA
     * golden of {@code goldens_framed.json} with this PNG, its length and this node's model string swapped in.
     */
    @Test
    void anEcFileKeyedByVllmsFramedFormatIsAHitForAnRgbaImage() throws Exception {
        Path model =
                TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        Path ec = Files.createTempDirectory(Path.of("target").toAbsolutePath(), "ec-vllm-framed-");
        String imageName = "img_100x61";
        java.awt.image.BufferedImage rgb = javax.imageio.ImageIO.read(
                GoldenCase.root().resolve("images/" + imageName + ".png").toFile());
        java.awt.image.BufferedImage argb = new java.awt.image.BufferedImage(
                rgb.getWidth(), rgb.getHeight(), java.awt.image.BufferedImage.TYPE_INT_ARGB);
        for (int y = 0; y < rgb.getHeight(); y++) {
            for (int x = 0; x < rgb.getWidth(); x++) {
                argb.setRGB(x, y, 0xFF000000 | rgb.getRGB(x, y));
            }
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        javax.imageio.ImageIO.write(argb, "png", png);
        byte[] image = png.toByteArray();
        assertEquals(6, image[25], "PNG colour type 6 (RGBA), which PIL opens as RGBA");

        JsonNode goldens = Http.JSON.readTree(goldensFile("goldens_framed.json").toFile());
        JsonNode chunks = null;
        for (JsonNode c : goldens.path("cases")) {
            if (c.path("image").asText().equals("rgba_33x21.png")
                    && c.path("url_kind").asText().equals("data")) {
                chunks = c.path("formats").path("FRAMED").path("blake3_chunks_hex");
            }
        }
        String goldenModel = goldens.path("model").asText();
        // vLLM's framed stream for an RGBA image: each swapped chunk's u64 length (the chunk before it) follows it.
        java.util.List<byte[]> stream = new java.util.ArrayList<>();
        for (JsonNode chunk : chunks) {
            String hex = chunk.asText();
            boolean swapped = hex.equals("@image");
            byte[] bytes = swapped ? image : HexFormat.of().parseHex(hex);
            if (new String(bytes, StandardCharsets.UTF_8).equals(goldenModel)) {
                bytes = model.toString().getBytes(StandardCharsets.UTF_8);
                swapped = true;
            }
            if (swapped) {
                stream.set(
                        stream.size() - 1,
                        java.nio.ByteBuffer.allocate(8)
                                .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                                .putLong(bytes.length)
                                .array());
            }
            stream.add(bytes);
        }
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        stream.forEach(sha::update);
        String key = HexFormat.of().formatHex(sha.digest());

        assertHitOnPd("pd-vllm-framed-keys", model, ec, key, "framed", imageName, image);
    }

    /**
     * Publishes Hugging Face's embeddings for {@code imageName} under {@code key}, starts a PD node that keys items by
     * {@code format} (sha256), sends {@code image} without a uuid and checks that the EC file was the hit and the
     * answer Hugging Face's text.
     */
    private static void assertHitOnPd(
            String name, Path model, Path ec, String key, String format, String imageName, byte[] image)
            throws Exception {
        String ecConfig = SharedCluster.ecConfig("ec_consumer", ec);
        try (GoldenCase g = GoldenCase.load(imageName)) {
            float[] rows = g.floats("vision_embeds");
            long[] shape = g.shape("vision_embeds");
            SharedStorageEcConnector.open(EcTransferConfig.parse(SharedCluster.ecConfig("ec_producer", ec)), DType.BF16)
                    .publish(key, rows, Math.toIntExact(shape[0]), Math.toIntExact(shape[1]));
        }
        NodeProcess pd = NodeProcess.serve(
                name,
                model,
                "--served-model-name",
                "tiny",
                "--ec-transfer-config",
                ecConfig,
                "--mm-hash-format",
                format,
                "--mm-hasher-algorithm",
                "sha256");
        try {
            ObjectNode body = Http.JSON.createObjectNode();
            body.put("model", "tiny");
            body.put("max_tokens", 16);
            body.put("temperature", 0.0);
            var content =
                    body.putArray("messages").addObject().put("role", "user").putArray("content");
            content.addObject()
                    .put("type", "image_url")
                    .putObject("image_url")
                    .put("url", "data:image/png;base64," + Base64.getEncoder().encodeToString(image));
            content.addObject().put("type", "text").put("text", "Describe this image.");
            double hits = Http.metric(pd.url(), "jepd:ec_hits_total");
            Http.Response r = Http.post(pd.url() + "/v1/chat/completions", body.toString());
            assertEquals(200, r.status(), r.body());
            assertEquals(hits + 1, Http.metric(pd.url(), "jepd:ec_hits_total"), "vLLM's key was found: " + key);
            assertEquals(
                    SharedCluster.golden(imageName),
                    r.json().at("/choices/0/message/content").asText());
        } finally {
            NodeProcess.closeAll(pd);
        }
    }
}
