package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.openai.client.OpenAIClient;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.models.tiny.TinyModels;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The encoder cache over NIXL, in both connectors' configurations: vllm-rbln's {@code RblnECNixlConnector} (the PD
 * node binds {@code pull_port}, the encoders offer each item there and the PD node reads it) and vLLM's
 * {@code ECCPUConnector} with {@code ec_enable_nixl} (each encoder keeps its items in a registered CPU region and
 * answers where they are; the proxy carries that {@code ec_transfer_params} to the PD node, which asks the encoder
 * over ZMQ and reads the blocks). Real processes, the proxy in front, the OpenAI SDK as the client, and no EC
 * directory anywhere.
 */
@Tag("nixl")
class EcOverNixlTest {
    private final List<NodeProcess> nodes = new ArrayList<>();

    @BeforeEach
    void library() {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
    }

    @AfterEach
    void stop() throws Exception {
        NodeProcess.closeAll(nodes.reversed().toArray(NodeProcess[]::new));
    }

    static String ecConfig(String connector, String role, String extra) {
        return "{\"ec_connector\":\"" + connector + "\",\"ec_role\":\"" + role + "\","
                + "\"ec_connector_extra_config\":{" + extra + "}}";
    }

    /** The PD node's and an encoder's extra config for {@code connector}. */
    private static String[] extras(String connector, int pullPort) {
        if (connector.equals("ECCPUConnector")) {
            String common = "\"ec_enable_nixl\":true,\"ec_cpu_bytes\":4194304";
            return new String[] {common, common + ",\"side_channel_host\":\"127.0.0.1\",\"side_channel_port\":0"};
        }
        return new String[] {
            "\"pull_host\":\"127.0.0.1\",\"pull_port\":" + pullPort,
            "\"llm_host\":\"127.0.0.1\",\"llm_pull_port\":" + pullPort
        };
    }

    private NodeProcess start(NodeProcess n) {
        nodes.add(n);
        return n;
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** A PD node taking offers on {@code pullPort}, and {@code encoders} encoders offering there. */
    private NodeProcess[] cluster(String connector, Path model, int encoders) throws Exception {
        String[] extra = extras(connector, freePort());
        String media = SharedCluster.GOLDEN.resolve("images").toString();
        NodeProcess pd = start(NodeProcess.serve(
                "ecnixl-pd",
                model,
                "--served-model-name",
                "tiny",
                "--allowed-local-media-path",
                media,
                "--ec-transfer-config",
                ecConfig(connector, "ec_consumer", extra[0]),
                "--max-model-len",
                "1024",
                "--max-num-seqs",
                "16"));
        StringBuilder urls = new StringBuilder();
        for (int i = 0; i < encoders; i++) {
            NodeProcess e = start(NodeProcess.serve(
                    "ecnixl-encoder-" + i,
                    model,
                    "--served-model-name",
                    "tiny",
                    "--allowed-local-media-path",
                    media,
                    "--ec-transfer-config",
                    ecConfig(connector, "ec_producer", extra[1])));
            urls.append(i == 0 ? "" : ",").append(e.url());
        }
        NodeProcess proxy = start(NodeProcess.start(
                "ecnixl-proxy",
                "dev.jepd.proxy.ProxyMain",
                List.of(
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "0",
                        "--encode-servers-urls",
                        urls.toString(),
                        "--decode-servers-urls",
                        pd.url())));
        return new NodeProcess[] {pd, proxy};
    }

    /**
     * One cluster, two checks: each golden image answers Hugging Face's text with its item pulled over NIXL and no
     * EC file written; then an encoder is killed with SIGKILL (its NIXL agent with it) under load and no request is
     * lost: the proxy fails over to the other encoder, or the PD node encodes the item itself.
     */
    @ParameterizedTest
    @ValueSource(strings = {"RblnECNixlConnector", "ECCPUConnector"})
    void twoEncodersStageItemsOnThePdNodeAndOneKilledUnderLoadLosesNothing(String connector) throws Exception {
        Path model =
                TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        Path cwd = Path.of("").toAbsolutePath();
        long ecDirsBefore = ecFiles(cwd);
        NodeProcess[] c = cluster(connector, model, 2);
        NodeProcess pd = c[0];
        OpenAIClient client = PrefillDecodeTest.sdk(c[1]);
        for (String name : List.of("img_112x84", "img_100x61")) {
            double hits = Http.metric(pd.url(), "jepd:ec_hits_total");
            String answer = EpdNodesTest.answer(client, EpdNodesTest.sdkParams(EpdNodesTest.image(name)));
            assertEquals(EpdNodesTest.golden(name), answer, name);
            assertEquals(hits + 1, Http.metric(pd.url(), "jepd:ec_hits_total"), name + ": pulled over NIXL");
        }
        assertEquals(0, Http.metric(pd.url(), "jepd:ec_misses_total"), "nothing encoded on the PD node");
        assertEquals(ecDirsBefore, ecFiles(cwd), "no EC file written anywhere under the build");

        String expected = EpdNodesTest.golden("img_112x84");
        int requests = 24;
        double before = Http.metric(pd.url(), "jepd:ec_hits_total") + Http.metric(pd.url(), "jepd:ec_misses_total");
        try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
            List<Future<String>> answers = new ArrayList<>();
            for (int i = 0; i < requests; i++) {
                answers.add(pool.submit(
                        () -> EpdNodesTest.answer(client, EpdNodesTest.sdkParams(EpdNodesTest.image("img_112x84")))));
                if (i == requests / 3) {
                    nodes.get(1).kill(); // encoder 0, and its NIXL agent with it: SIGKILL
                }
            }
            for (Future<String> a : answers) {
                assertEquals(expected, a.get(), "every request answered as a single node does");
            }
        }
        double after = Http.metric(pd.url(), "jepd:ec_hits_total") + Http.metric(pd.url(), "jepd:ec_misses_total");
        assertEquals(requests, after - before, "each request either pulled its item or encoded it locally");
    }

    private static long ecFiles(Path root) throws Exception {
        try (Stream<Path> s = Files.walk(root.resolve("target"), 6)) {
            return s.filter(p -> p.getFileName().toString().equals("encoder_cache.safetensors"))
                    .count();
        }
    }
}
