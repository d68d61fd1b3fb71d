package dev.jepd.e2e;

import dev.jepd.models.tiny.TinyModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * One E+PD cluster of real processes for every e2e test class in this JVM: encoder (ec_producer), PD node
 * (ec_consumer) and the JEPD proxy, on loopback ports, sharing an EC directory. Started on first use, stopped
 * when the test JVM exits. Tests read metrics as deltas, so sharing is safe.
 */
public record SharedCluster(Path model, Path ec, NodeProcess encoder, NodeProcess pd, NodeProcess proxy) {
    public static final Path GOLDEN = Path.of("..", "models", "src", "test", "resources", "golden")
            .toAbsolutePath()
            .normalize();
    private static SharedCluster instance;

    public static synchronized SharedCluster get() throws Exception {
        if (instance == null) {
            instance = start();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    NodeProcess.closeAll(instance.proxy, instance.pd, instance.encoder);
                } catch (InterruptedException ignored) {
                    // exiting anyway
                }
            }));
        }
        return instance;
    }

    /** The EC transfer config for a role, on a given directory. */
    public static String ecConfig(String role, Path dir) {
        return "{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"" + role + "\","
                + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"" + dir + "\"}}";
    }

    private static SharedCluster start() throws Exception {
        Path model =
                TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        Path ec = Files.createTempDirectory(Path.of("target").toAbsolutePath(), "ec-");
        String media = GOLDEN.resolve("images").toString();
        NodeProcess encoder = NodeProcess.serve(
                "encoder",
                model,
                "--served-model-name",
                "tiny",
                "--allowed-local-media-path",
                media,
                "--ec-transfer-config",
                ecConfig("ec_producer", ec));
        NodeProcess pd = NodeProcess.serve(
                "pd",
                model,
                "--served-model-name",
                "tiny",
                "--allowed-local-media-path",
                media,
                "--ec-transfer-config",
                ecConfig("ec_consumer", ec),
                "--max-model-len",
                "1024",
                "--max-image-bytes",
                "100000",
                "--max-num-seqs",
                "64");
        NodeProcess proxy = NodeProcess.start(
                "proxy",
                "dev.jepd.proxy.ProxyMain",
                List.of(
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "0",
                        "--encode-servers-urls",
                        encoder.url(),
                        "--decode-servers-urls",
                        pd.url()));
        return new SharedCluster(model, ec, encoder, pd, proxy);
    }

    public static String image(String name) {
        return "file://" + GOLDEN.resolve("images/" + name + ".png");
    }

    public static String golden(String name) throws Exception {
        return Http.JSON
                .readTree(GOLDEN.resolve("cases/" + name + ".json").toFile())
                .get("generated_text")
                .asText();
    }
}
