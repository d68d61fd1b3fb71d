package dev.jepd.transfer.vllm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.zeromq.ZContext;

/**
 * The side channel answered to real pyzmq (libzmq) with the payload decoded by real msgspec, as a vLLM decode
 * worker does: JeroMQ's ROUTER against libzmq's REQ, and msgpack-java's bytes through msgspec's typed decoders.
 * Needs a Python with msgspec and pyzmq: {@code JEPD_PYTHON}, else {@code target/pyvenv} ({@code bin/test-peers}
 * makes it from the local wheel index); skips saying so where there is none.
 */
class VllmPythonHandshakeTest {
    static String python() throws Exception {
        String env = System.getenv("JEPD_PYTHON");
        List<String> candidates = env != null
                ? List.of(env)
                : List.of("../../target/pyvenv/bin/python", "target/pyvenv/bin/python", "python3");
        for (String c : candidates) {
            try {
                Process p = new ProcessBuilder(c, "-c", "import msgspec, zmq")
                        .redirectErrorStream(true)
                        .start();
                if (p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0) {
                    return c;
                }
            } catch (java.io.IOException e) {
                // not there: try the next
            }
        }
        return null;
    }

    @Test
    void pyzmqAndMsgspecDecodeTheHandshakeAsVllmDoes() throws Exception {
        String python = python();
        Assumptions.assumeTrue(
                python != null,
                "no Python with msgspec and pyzmq (JEPD_PYTHON, or bin/test-peers' target/pyvenv from the local"
                        + " wheel index)");
        VllmNixlWireTest.load();
        var meta = VllmNixlWireTest.goldenMetadata();
        String hash = "ab".repeat(32);
        byte[] payload = new VllmNixlWire.HandshakePayload(hash, meta.encode()).encode();
        Path script = Path.of(VllmPythonHandshakeTest.class
                .getResource("/kv/vllm-nixl/vllm_decode_handshake.py")
                .toURI());
        try (var side = new VllmSideChannel("127.0.0.1", 0, rank -> rank == 0 ? payload : null)) {
            Process p = new ProcessBuilder(python, script.toString(), "127.0.0.1", Integer.toString(side.port()), "0")
                    .redirectErrorStream(true)
                    .start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(30, TimeUnit.SECONDS);
            assertEquals(0, p.exitValue(), out);
            JsonNode got = new ObjectMapper().readTree(out);
            assertEquals(hash, got.get("compatibility_hash").asText());
            assertEquals(meta.engineId(), got.get("engine_id").asText());
            assertEquals(
                    HexFormat.of().formatHex(meta.agentMetadata()),
                    got.get("agent_metadata").asText());
            assertEquals(
                    meta.kvCachesBaseAddr()[3],
                    got.get("kv_caches_base_addr").get(3).asLong());
            assertEquals(meta.numBlocks(), got.get("num_blocks").asInt());
            assertEquals(meta.blockLens()[0], got.get("block_lens").get(0).asLong());
            assertEquals("HND", got.get("kv_cache_layout").asText());
            assertEquals(16, got.get("block_size").asInt());
        }
        assertEquals(true, Files.exists(script));
    }

    /** The other direction: JeroMQ's REQ (a JEPD decode node) against libzmq's ROUTER serving msgspec's bytes. */
    @Test
    void aVllmListenersPayloadIsReadAsVllmsDecodeWorkerReadsIt() throws Exception {
        String python = python();
        Assumptions.assumeTrue(
                python != null,
                "no Python with msgspec and pyzmq (JEPD_PYTHON, or bin/test-peers' target/pyvenv from the local"
                        + " wheel index)");
        VllmNixlWireTest.load();
        Path dir = Path.of(VllmPythonHandshakeTest.class
                        .getResource("/kv/vllm-nixl/vllm_prefill_listener.py")
                        .toURI())
                .getParent();
        Process p = new ProcessBuilder(
                        python,
                        dir.resolve("vllm_prefill_listener.py").toString(),
                        dir.resolve("vllm_nixl_goldens.json").toString())
                .redirectErrorStream(true)
                .start();
        try (ZContext zmq = new ZContext()) {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()));
            int port = Integer.parseInt(out.readLine().trim());
            // As the JEPD decode node asks (VllmSideChannel.ask: JeroMQ's REQ loses an ask now and then).
            byte[] answer = VllmSideChannel.ask(zmq, "127.0.0.1", port, 0, 5000);
            assertNotNull(answer, "the listener answered within 5 s");
            var payload = VllmNixlWire.HandshakePayload.decode(answer);
            assertEquals(VllmNixlWireTest.golden.get("compatibility_hash").asText(), payload.compatibilityHash());
            assertEquals(VllmNixlWireTest.goldenMetadata(), payload.metadata());
            p.waitFor(30, TimeUnit.SECONDS);
            assertEquals(0, p.exitValue(), "the listener read (b\"get_meta_msg\", 0)");
        } finally {
            p.destroy();
        }
    }
}
