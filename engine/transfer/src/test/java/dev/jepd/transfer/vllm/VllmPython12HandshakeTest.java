package dev.jepd.transfer.vllm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.zeromq.ZContext;

/**
 * vLLM's wire version 12 handshake against real pyzmq and msgspec, both ways: a version 12 decode worker's side
 * (three-element request, two-frame answer asserted, version 12 metadata through msgspec's typed decoder) against
 * JEPD's side channel, and JEPD's REQ against a version 12 listener. Same Python as {@link VllmPythonHandshakeTest}.
 */
class VllmPython12HandshakeTest {
    static final String NO_PYTHON = "no Python with msgspec and pyzmq (JEPD_PYTHON, or bin/test-peers' target/pyvenv"
            + " from the local wheel index)";

    @Test
    void aVersion12DecodeWorkerDecodesJepdsAnswerAsVllmDoes() throws Exception {
        String python = VllmPythonHandshakeTest.python();
        Assumptions.assumeTrue(python != null, NO_PYTHON);
        VllmNixl12WireTest.load();
        var meta = VllmNixl12WireTest.metadata("metadata");
        String hash = "cd".repeat(32);
        byte[] payload = new VllmNixlWire.HandshakePayload(hash, meta.encode()).encode();
        Path script = Path.of(VllmPython12HandshakeTest.class
                .getResource("/kv/vllm-nixl/vllm_decode_handshake.py")
                .toURI());
        try (var side = new VllmSideChannel("127.0.0.1", 0, VllmWireVersion.V12, rank -> rank == 0 ? payload : null)) {
            Process p = new ProcessBuilder(
                            python, script.toString(), "127.0.0.1", Integer.toString(side.port()), "0", "12")
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
            assertEquals(meta.blockStrides()[2], got.get("block_strides").get(2).asLong());
            assertEquals("FLASH_ATTN", got.get("attn_backend_name").asText());
            assertEquals(1, got.get("physical_blocks_per_logical_kv_block").asInt());
            assertTrue(got.get("region_num_blocks").isNull());
            assertEquals(1, got.get("dcp_size").asInt());
            assertTrue(got.get("clock_is_float").asBoolean(), out);
        }
    }

    @Test
    void aVersion12ListenersTwoFramesAreReadAsVllmsDecodeWorkerReadsThem() throws Exception {
        String python = VllmPythonHandshakeTest.python();
        Assumptions.assumeTrue(python != null, NO_PYTHON);
        VllmNixl12WireTest.load();
        Path dir = Path.of(VllmPython12HandshakeTest.class
                        .getResource("/kv/vllm-nixl/vllm_prefill_listener.py")
                        .toURI())
                .getParent();
        Process p = new ProcessBuilder(
                        python,
                        dir.resolve("vllm_prefill_listener.py").toString(),
                        dir.resolve("vllm_nixl12_goldens.json").toString())
                .redirectErrorStream(true)
                .start();
        try (ZContext zmq = new ZContext()) {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()));
            int port = Integer.parseInt(out.readLine().trim());
            // As the JEPD decode node asks (VllmSideChannel.ask: JeroMQ's REQ loses an ask now and then).
            java.util.List<byte[]> frames =
                    VllmSideChannel.ask(zmq, "127.0.0.1", port, VllmNixlWire.encodeGetMeta(0, 0), 5000);
            assertTrue(frames != null, "the listener answered within 5 s");
            assertEquals(2, frames.size(), "the payload and a second frame: the listener's perf_counter");
            byte[] answer = frames.get(0);
            byte[] clock = frames.get(1);
            assertTrue(VllmNixlWire.decodePerfCounter(clock) >= 0);
            var payload = VllmNixlWire.HandshakePayload.decode(answer);
            assertEquals(VllmNixl12WireTest.golden.get("compatibility_hash").asText(), payload.compatibilityHash());
            assertEquals(
                    VllmNixl12WireTest.metadata("metadata"),
                    VllmNixlWire.AgentMetadataV12.decode(payload.agentMetadataBytes()));
            p.waitFor(30, TimeUnit.SECONDS);
            assertEquals(0, p.exitValue(), "the listener read (b\"get_meta_msg\", 0, 0)");
        } finally {
            p.destroy();
        }
    }
}
