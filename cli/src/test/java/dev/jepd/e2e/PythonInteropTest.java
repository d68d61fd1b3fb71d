package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Independent Python peers against JEPD: Hugging Face's {@code safetensors} reads and writes EC files, and
 * the seed's own E+PD proxy (same protocol as vLLM's disagg_epd_proxy.py) fronts JEPD nodes. The peers are
 * installed by {@code bin/test-peers}; each test skips with the reason when its peer is absent.
 */
class PythonInteropTest {
    static SharedCluster cluster;

    @BeforeAll
    static void start() throws Exception {
        cluster = SharedCluster.get();
    }

    static PythonSafetensors.Run python(String python, List<String> args, String stdin) throws Exception {
        return PythonSafetensors.python(python, args, stdin);
    }

    /** Encodes one golden image through the encoder node; returns its EC file. */
    static Path encoded(String name) throws Exception {
        Http.Response e = Http.post(
                cluster.encoder().url() + "/v1/chat/completions",
                Requests.encoderRequest("tiny", SharedCluster.image(name)).toString());
        assertEquals(200, e.status(), e.body());
        return cluster.ec().resolve(e.json().at("/jepd/ec/0/key").asText()).resolve("encoder_cache.safetensors");
    }

    @Test
    void ecFilesRoundTripThroughPythonSafetensors() throws Exception {
        Path file = encoded("img_100x61");
        String py = PythonSafetensors.find();
        if (py == null) {
            // No Python safetensors here: check the header against the format spec instead.
            specHeaderCheck(file, 8, 64);
            Assumptions.abort(PythonSafetensors.MISSING + "; checked the header against the format spec");
        }
        PythonSafetensors.assertEcFile(py, file, 8, 64);

        // Python's writer makes a file under a new key; the PD node must consume it (an EC hit) unchanged.
        Path copy = cluster.ec().resolve("written-by-python").resolve("encoder_cache.safetensors");
        Files.createDirectories(copy.getParent());
        String write = """
                import ctypes, sys
                import safetensors
                from safetensors import deserialize, serialize_file
                name, t = deserialize(open(sys.argv[1], "rb").read())[0]
                data = bytes(t["data"])
                if hasattr(safetensors, "TensorSpec"):  # safetensors >= 0.8: raw specs point at a live buffer
                    buf = ctypes.create_string_buffer(data, len(data))
                    dtype = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}.get(t["dtype"], t["dtype"])
                    spec = safetensors.TensorSpec(
                        dtype=dtype, shape=t["shape"], data_ptr=ctypes.addressof(buf), data_len=len(data))
                else:
                    spec = {"dtype": t["dtype"], "shape": t["shape"], "data": data}
                serialize_file({"ec_cache": spec}, sys.argv[2])
                """;
        PythonSafetensors.Run w = python(py, List.of("-c", write, file.toString(), copy.toString()), "");
        assertEquals(0, w.exit(), w.out());
        var body = Requests.chat("tiny", SharedCluster.image("img_100x61"), "Describe this image.", 16, false);
        ((com.fasterxml.jackson.databind.node.ObjectNode) body.at("/messages/0/content/0"))
                .put("uuid", "written-by-python");
        double hits = Http.metric(cluster.pd().url(), "jepd:ec_hits_total");
        Http.Response r2 = Http.post(cluster.pd().url() + "/v1/chat/completions", body.toString());
        assertEquals(
                SharedCluster.golden("img_100x61"),
                r2.json().at("/choices/0/message/content").asText());
        assertEquals(
                hits + 1, Http.metric(cluster.pd().url(), "jepd:ec_hits_total"), "the Python-written file was a hit");
    }

    /** The safetensors format spec, checked by hand: u64-LE header length, JSON header, data right after. */
    static void specHeaderCheck(Path file, long tokens, long dim) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        JsonNode h = Http.JSON.readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
        JsonNode t = h.get("ec_cache");
        assertEquals("BF16", t.path("dtype").asText());
        assertEquals("[" + tokens + "," + dim + "]", t.path("shape").toString());
        assertEquals("[0," + tokens * dim * 2 + "]", t.path("data_offsets").toString());
        assertEquals(8 + n + tokens * dim * 2, all.length);
        assertEquals(0, (8 + n) % 8, "header padded to 8 bytes");
    }

    @Test
    void theSeedsOwnProxyInFrontOfJepdNodesGivesTheSameAnswer() throws Exception {
        Path seed = Path.of("..", "..", "shared", "seeds", "client_ec_disaggregated.py")
                .toAbsolutePath()
                .normalize();
        Assumptions.assumeTrue(Files.isRegularFile(seed), "../shared/seeds/client_ec_disaggregated.py is not here");
        Assumptions.assumeTrue(
                python("/usr/bin/python3", List.of("-c", "import fastapi, aiohttp, uvicorn, uvloop"), "")
                                .exit()
                        == 0,
                "Debian's python3-fastapi/aiohttp/uvicorn/uvloop are not installed (bin/test-peers installs them as root)");
        int port;
        try (var s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process p = new ProcessBuilder(
                        "/usr/bin/python3",
                        seed.toString(),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "" + port,
                        "--encode-servers-urls",
                        cluster.encoder().url(),
                        "--decode-servers-urls",
                        cluster.pd().url())
                .redirectErrorStream(true)
                .redirectOutput(Path.of("target", "e2e-logs", "seed-proxy.log").toFile())
                .start();
        try {
            String url = "http://127.0.0.1:" + port;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                try {
                    if (Http.get(url + "/health").status() == 200) {
                        break;
                    }
                } catch (IOException notYet) {
                    // starting
                }
                assertTrue(
                        p.isAlive() && System.nanoTime() < deadline, "seed proxy did not start; see target/e2e-logs");
                Thread.sleep(250);
            }
            for (String name : List.of("img_112x84", "img_100x61")) {
                Http.Response r = Http.post(
                        url + "/v1/chat/completions",
                        Requests.chat("tiny", SharedCluster.image(name), "Describe this image.", 16, false)
                                .toString());
                assertEquals(200, r.status(), r.body());
                assertEquals(
                        SharedCluster.golden(name),
                        r.json().at("/choices/0/message/content").asText());
            }
            String streamed = ClusterTestSupport.sseText(Http.post(
                            url + "/v1/chat/completions",
                            Requests.chat("tiny", SharedCluster.image("img_112x84"), "Describe this image.", 16, true)
                                    .toString())
                    .body());
            assertEquals(SharedCluster.golden("img_112x84"), streamed);
        } finally {
            p.destroy();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
