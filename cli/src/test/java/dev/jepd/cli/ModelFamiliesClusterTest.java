package dev.jepd.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.jepd.e2e.PythonSafetensors;
import dev.jepd.engine.safetensors.SafetensorsFile;
import dev.jepd.models.tiny.TinyQwen2VlWriter;
import dev.jepd.models.tiny.TinyQwen3VlWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The model families other than Qwen2.5-VL (whose paths the e2e suite covers) through the whole cluster, as real
 * processes on loopback (Qwen2-VL and Qwen3-VL): each topology's answer through the proxy must be Hugging Face's own greedy text for the
 * image (the family's goldens), and the EC file the encoder wrote must hold the family's width in BF16, as read
 * by JEPD and by Hugging Face's Python {@code safetensors} (skipped, saying why, where {@code bin/test-peers} could
 * not install it).
 */
class ModelFamiliesClusterTest {
    static final Path GOLDEN = Path.of("..", "models", "src", "test", "resources", "golden")
            .toAbsolutePath()
            .normalize();

    /** Family, topology, and the EC row width the family's encoder must write (Qwen3-VL: main + 2 DeepStack). */
    @ParameterizedTest
    @CsvSource({"qwen2-vl,1e1pd,64", "qwen2-vl,1e1p1d,64", "qwen3-vl,1e1pd,192", "qwen3-vl,1e1p1d,192"})
    void eachFamilyAnswersAsTransformersInEveryTopology(String family, String topology, int ecWidth) throws Exception {
        // Under target/, so the nodes' logs stay for a failure's reader.
        Path tmp = Path.of("target", "families", family + "-" + topology).toAbsolutePath();
        Files.createDirectories(tmp);
        Path fixture = Path.of("target", "tiny-" + family).toAbsolutePath();
        Path model = family.equals("qwen2-vl") ? TinyQwen2VlWriter.ensure(fixture) : TinyQwen3VlWriter.ensure(fixture);
        // The cluster's nodes run this build's classes (the test classpath), not bin/jepd's packaged jars.
        Path launcher = tmp.resolve("jepd");
        String java = "'" + ProcessHandle.current().info().command().orElse("java")
                + "' --enable-native-access=ALL-UNNAMED --add-modules=jdk.incubator.vector -Dai.djl.offline=true -XX:+UseParallelGC -Xmx2g -cp '"
                + System.getProperty("java.class.path") + "' ";
        Files.writeString( // as bin/jepd: the proxy has its own main class
                launcher,
                "#!/bin/sh\nif [ \"$1\" = proxy ]; then shift; exec " + java + "dev.jepd.proxy.ProxyMain \"$@\"; fi\n"
                        + "exec " + java + "dev.jepd.cli.Jepd \"$@\"\n");
        launcher.toFile().setExecutable(true);
        System.setProperty("jepd.launcher", launcher.toString());
        try (LocalCluster cluster = LocalCluster.start(tmp, model, List.of(), LocalCluster.Topology.parse(topology))) {
            OpenAIClient client = OpenAIOkHttpClient.builder()
                    .baseUrl(cluster.proxyUrl() + "/v1")
                    .apiKey("unused")
                    .build();
            for (String image : List.of("img_112x84", "img_100x61")) {
                String answer = client.chat()
                        .completions()
                        .create(params(image))
                        .choices()
                        .getFirst()
                        .message()
                        .content()
                        .orElseThrow();
                assertEquals(golden(family + "_" + image), answer, family + " " + topology + " " + image);
            }
            List<Path> ecFiles;
            try (Stream<Path> s = Files.walk(cluster.ec())) {
                ecFiles = s.filter(p -> p.getFileName().toString().equals("encoder_cache.safetensors"))
                        .toList();
            }
            assertEquals(2, ecFiles.size(), "one EC entry per image: " + ecFiles);
            Set<Long> tokens = new TreeSet<>();
            for (Path f : ecFiles) {
                try (SafetensorsFile ec = SafetensorsFile.open(f)) {
                    long[] shape = ec.info("ec_cache").shape();
                    assertEquals(ecWidth, shape[1], "vLLM's EC row width for " + family);
                    tokens.add(shape[0]);
                    assertEquals("BF16", ec.info("ec_cache").dtype().name());
                }
            }
            assertEquals(imageTokens(family), tokens, "each image's tokens, as transformers' grids give them");
            // An independent reader: Hugging Face's Python safetensors loads each file with the family's shape.
            String py = PythonSafetensors.find();
            if (py == null) {
                Assumptions.abort(PythonSafetensors.MISSING + "; the EC files were checked from Java only");
            }
            for (Path f : ecFiles) {
                long rows;
                try (SafetensorsFile ec = SafetensorsFile.open(f)) {
                    rows = ec.info("ec_cache").shape()[0];
                }
                var t = PythonSafetensors.assertEcFile(py, f, rows, ecWidth);
                System.out.printf(
                        "%s %s: Python safetensors loads %s: %s %s%n",
                        family, topology, cluster.ec().relativize(f), t.path("dtype"), t.path("shape"));
            }
        }
    }

    /** The merged-token count of each golden image (grid t·h·w / merge²), from the family's cases. */
    static Set<Long> imageTokens(String family) throws Exception {
        Set<Long> out = new TreeSet<>();
        for (String image : List.of("img_112x84", "img_100x61")) {
            long n = 1;
            for (var d : new ObjectMapper()
                    .readTree(GOLDEN.resolve("cases/" + family + "_" + image + ".json")
                            .toFile())
                    .get("image_grid_thw")) {
                n *= d.asLong();
            }
            out.add(n / 4);
        }
        return out;
    }

    static ChatCompletionCreateParams params(String image) throws Exception {
        String url = "data:image/png;base64,"
                + Base64.getEncoder().encodeToString(Files.readAllBytes(GOLDEN.resolve("images/" + image + ".png")));
        return ChatCompletionCreateParams.builder()
                .model("tiny")
                .addUserMessageOfArrayOfContentParts(List.of(
                        ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage.builder()
                                .imageUrl(ChatCompletionContentPartImage.ImageUrl.builder()
                                        .url(url)
                                        .build())
                                .build()),
                        ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder()
                                .text("Describe this image.")
                                .build())))
                .maxCompletionTokens(16)
                .temperature(0.0)
                .build();
    }

    static String golden(String caseName) throws Exception {
        return new ObjectMapper()
                .readTree(GOLDEN.resolve("cases/" + caseName + ".json").toFile())
                .get("generated_text")
                .asText();
    }
}
