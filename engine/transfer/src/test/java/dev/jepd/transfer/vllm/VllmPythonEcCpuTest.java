package dev.jepd.transfer.vllm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.engine.connector.EcTransferParams;
import dev.jepd.ffi.nixl.NixlLibrary;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * JEPD's ECCPUConnector against vLLM's side of its side channel as pyzmq (libzmq) and msgspec run it, from a stand-in
 * written from vLLM's code ({@code vllm_ec_cpu_peer.py}): vLLM's consumer asks a JEPD producer (and keeps the
 * connection past its heartbeat timeout), and a JEPD consumer asks vLLM's producer. Needs a Python with msgspec and
 * pyzmq (as {@link VllmPythonHandshakeTest}) and NIXL; skips saying which is missing.
 */
@Tag("nixl")
class VllmPythonEcCpuTest {
    String python;
    Path script;

    @BeforeEach
    void peers() throws Exception {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
        python = VllmPythonHandshakeTest.python();
        Assumptions.assumeTrue(
                python != null,
                "no Python with msgspec and pyzmq (JEPD_PYTHON, or bin/test-peers' target/pyvenv from the local"
                        + " wheel index)");
        script = Path.of(VllmPythonEcCpuTest.class
                .getResource("/ec/vllm-ec-cpu/vllm_ec_cpu_peer.py")
                .toURI());
    }

    @Test
    void vllmsConsumerGetsTheGrantFromAJepdProducer() throws Exception {
        try (VllmEcCpuConnector encoder = VllmEcCpuConnectorTest.open("ec_producer", "")) {
            int tokens = 9;
            EcTransferParams p = encoder.publish(
                    "c529b101a6de949a1c6803c46993b1802943081f28cbb89e2750aa5192444e36",
                    VllmEcCpuConnectorTest.rows(tokens * VllmEcCpuConnectorTest.HIDDEN, 4),
                    tokens,
                    VllmEcCpuConnectorTest.HIDDEN);
            Process py = new ProcessBuilder(
                            python,
                            script.toString(),
                            "consumer",
                            "127.0.0.1",
                            Integer.toString(p.peerPort()),
                            "c529b101a6de949a1c6803c46993b1802943081f28cbb89e2750aa5192444e36",
                            encoder.compatibilityHash())
                    .redirectErrorStream(true)
                    .start();
            String out = new String(py.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(py.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, py.exitValue(), out);
            JsonNode got = new ObjectMapper().readTree(out);
            assertEquals(0, got.get("status").asInt(), "OK");
            assertEquals(
                    "3f2b8c1e-9a4d-4e57-b0c2-7d1e5f6a8b90",
                    got.get("session_id").asText());
            assertEquals(tokens, got.get("src_block_indices").size(), "one block per 64-wide bf16 row");
            assertEquals(64, got.get("region_blocks").asInt(), "the mem_descriptor lists the whole region");
            assertEquals(2 * VllmEcCpuConnectorTest.HIDDEN, got.get("block_len").asInt());
            assertEquals(0, got.get("block_dev").asInt());
            assertTrue(got.get("agent_metadata_bytes").asInt() > 0);
            assertEquals(2, got.get("incompat").asInt(), "NACK_INCOMPAT for another hash");
            assertEquals(
                    List.of("mm_hash", "status", "type"),
                    new ObjectMapper().convertValue(got.get("incompat_keys"), List.class),
                    "a NACK carries only its tag, hash and status");
            assertEquals(1, got.get("missing").asInt(), "NACK_MISSING");
            assertEquals(0, got.get("disconnects").asInt(), "the ROUTER answered libzmq's heartbeats");
            // vLLM's consumer never read, so its grant holds the pin until the lease; the item stays.
            assertEquals(1, encoder.pinnedItems());
        }
    }

    @Test
    void aJepdConsumerAsksVllmsProducerAsVllmDoesAndMissesOnItsNacks() throws Exception {
        try (VllmEcCpuConnector pd = VllmEcCpuConnectorTest.open("ec_consumer", "")) {
            Process py = new ProcessBuilder(python, script.toString(), "producer", pd.compatibilityHash())
                    .redirectErrorStream(true)
                    .start();
            try {
                BufferedReader lines =
                        new BufferedReader(new InputStreamReader(py.getInputStream(), StandardCharsets.UTF_8));
                int port = Integer.parseInt(lines.readLine().trim());
                int tokens = 3;
                EcTransferParams announced = EcTransferParams.vllmCpu(
                        "127.0.0.1",
                        port,
                        tokens * 2L * VllmEcCpuConnectorTest.HIDDEN,
                        List.of((long) tokens, (long) VllmEcCpuConnectorTest.HIDDEN),
                        null);
                assertTrue(pd.lookup("item-x", announced, tokens, VllmEcCpuConnectorTest.HIDDEN)
                        .isEmpty());
                JsonNode seen = new ObjectMapper().readTree(lines.readLine());
                assertEquals(2, seen.size(), "asked again after NACK_NOT_READY, then gave up on NACK_MISSING");
                for (JsonNode r : seen) {
                    assertTrue(r.get("empty_delimiter").asBoolean());
                    assertEquals("item-x", r.get("mm_hash").asText());
                    assertTrue(r.get("hash_ok").asBoolean());
                    assertEquals(36, r.get("session_id").asText().length(), "a uuid4 session id");
                    assertEquals(2, r.get("connector_version").asInt(), "absent: vLLM's default");
                }
                assertEquals(seen.get(0).get("session_id"), seen.get(1).get("session_id"));
                assertEquals(1, pd.misses());
            } finally {
                py.destroy();
                py.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
