package dev.jepd.transfer.vllm;

import static dev.jepd.transfer.vllm.VllmNixlPrefillTest.LAYOUT;
import static dev.jepd.transfer.vllm.VllmNixlPrefillTest.VLLM_BLOCK;
import static dev.jepd.transfer.vllm.VllmNixlPrefillTest.await;
import static dev.jepd.transfer.vllm.VllmNixlPrefillTest.blocks;
import static dev.jepd.transfer.vllm.VllmNixlPrefillTest.expectedRegion;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.transfer.kv.KvTransferParams;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A JEPD prefill area served on vLLM's NixlConnector wire version 12 (the nixl/ package) to a peer that does what
 * vLLM's version 12 decode worker does: three-element get_meta, a two-frame answer, version 12 metadata, per-group
 * {@code remote_block_ids}, {@code "HB:"} heartbeats renewing the short lease, the {@code "<id>:1"} notification that
 * frees the blocks; over real UCX in one process.
 */
@Tag("nixl")
class VllmNixl12PrefillTest {
    static final String HASH = "1".repeat(64);

    @BeforeEach
    void library() {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
    }

    static VllmNixlProducer producer(NixlLibrary lib, String engine, Duration lease, List<String> freed) {
        return new VllmNixlProducer(
                lib,
                engine,
                List.of("UCX"),
                LAYOUT,
                VLLM_BLOCK,
                8,
                HASH,
                lease,
                freed::add,
                VllmWireVersion.V12,
                "FLASH_ATTN",
                lease.multipliedBy(2).dividedBy(3));
    }

    @Test
    void aVersion12DecodePeerHeartbeatsThenReadsPerGroupBlocksAndItsNotificationFreesThem() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        List<String> freed = new CopyOnWriteArrayList<>();
        Duration lease = Duration.ofMillis(1500);
        try (var producer = producer(lib, "engine-12", lease, freed);
                var side = new VllmSideChannel(
                        "127.0.0.1", 0, VllmWireVersion.V12, rank -> rank == 0 ? producer.handshakePayload() : null);
                var peer = new VllmDecodePeer(lib, "vllm12-decode-peer")) {
            int prompt = 37;
            KvBlocks b = blocks(10, 21);
            producer.hold("other", blocks(10, 22), 20);
            int[] ids = producer.hold("cmpl-12", b, prompt);
            // What the prefill node answers (vLLM's request_finished shape): one list per KV-cache group.
            var params = KvTransferParams.heldPerGroup("engine-12", ids, "cmpl-12", "127.0.0.1", side.port(), prompt);
            var json = params.toJson();
            assertEquals(1, json.get("remote_block_ids").size());
            assertEquals(ids.length, json.get("remote_block_ids").get(0).size());
            assertEquals(prompt, json.get("remote_num_tokens").asInt());
            assertEquals("pull", json.get("transfer_mode").asText());
            KvTransferParams back = KvTransferParams.parse(json);

            VllmNixlWire.AgentMetadataV12 m = peer.handshake12("127.0.0.1", side.port(), HASH, "engine-12");
            assertEquals(4, m.kvCachesBaseAddr().length);
            assertArrayEquals(m.blockLens(), m.blockStrides());
            assertEquals("FLASH_ATTN", m.attnBackendName());
            assertEquals(1, m.physicalBlocksPerLogicalKvBlock());

            // The request waits on the decode node twice as long as the lease; heartbeats keep its blocks.
            long until = System.nanoTime() + 2 * lease.toNanos();
            while (System.nanoTime() < until) {
                peer.heartbeat(m, List.of(back.remoteRequestId(), "not-held-here"));
                Thread.sleep(250);
            }
            assertEquals(1, producer.heldRequests(), "the heartbeats kept cmpl-12; 'other' had none and expired");
            assertEquals(1, producer.expired());
            assertTrue(producer.renewed() >= 4, "renewals: " + producer.renewed());

            byte[][] read = peer.read12(m, new int[][] {back.remoteBlockIds()}, back.remoteRequestId());
            for (int l = 0; l < LAYOUT.layers(); l++) {
                assertArrayEquals(expectedRegion(b, prompt, l, false), read[2 * l], "layer " + l + " K");
                assertArrayEquals(expectedRegion(b, prompt, l, true), read[2 * l + 1], "layer " + l + " V");
            }
            await(() -> producer.heldRequests() == 0, "the notification frees the request's blocks");
            // the producer tells of the release after it has freed the blocks: wait for that callback too
            await(() -> !freed.isEmpty(), "the release is reported");
            assertEquals(List.of("cmpl-12"), freed);
            assertEquals(8, producer.freeBlocks());

            // A version 2 peer's pair gets an empty answer at once (a log line names vllm_wire_version); so does a
            // pipeline-parallel rank this node does not have, still in two frames as version 12 expects.
            assertEquals(0, peer.ask("127.0.0.1", side.port(), 0).length);
            List<byte[]> other = peer.ask12("127.0.0.1", side.port(), 1, 0);
            assertEquals(2, other.size());
            assertEquals(0, other.get(0).length);
        }
    }

    @Test
    void withoutHeartbeatsTheShortLeaseRunsOut() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        try (var producer = producer(lib, "engine-12e", Duration.ofMillis(300), new CopyOnWriteArrayList<>())) {
            producer.hold("a", blocks(10, 1), 20);
            assertEquals(6, producer.freeBlocks());
            await(() -> producer.freeBlocks() == 8, "the lease frees unread blocks");
            assertEquals(1, producer.expired());
            assertEquals(0, producer.renewed());
        }
    }

    @Test
    void aJepdDecodeClientOnAutoPullsFromAVersion12PrefillNode() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        try (var producer = producer(lib, "engine-12c", Duration.ofMinutes(1), new CopyOnWriteArrayList<>());
                var side = new VllmSideChannel(
                        "127.0.0.1", 0, VllmWireVersion.V12, rank -> rank == 0 ? producer.handshakePayload() : null);
                var auto =
                        new VllmNixlClient(lib, "jepd-decode-12", List.of("UCX"), HASH, Duration.ofSeconds(20), null);
                var v2 = new VllmNixlClient(
                        lib, "jepd-decode-2", List.of("UCX"), HASH, Duration.ofSeconds(20), VllmWireVersion.V2)) {
            int prompt = 37;
            KvBlocks b = blocks(10, 31);
            producer.hold("other", blocks(10, 32), 5);
            int[] ids = producer.hold("cmpl-12c", b, prompt);
            KvTransferParams params = KvTransferParams.parse(
                    KvTransferParams.heldPerGroup("engine-12c", ids, "cmpl-12c", "127.0.0.1", side.port(), prompt)
                            .toJson());
            var e = assertThrows(KvTransferException.class, () -> v2.pull(params, prompt, LAYOUT));
            assertTrue(e.getMessage().contains("vllm_wire_version"), e.getMessage());
            // vLLM v0.17-v0.20 send per-group ids too, but without remote_num_tokens (version 3 added it): refused
            // by name before any handshake, not taken for version 12.
            var json = params.toJson();
            json.remove("remote_num_tokens");
            KvTransferParams oldShape = KvTransferParams.parse(json);
            var older = assertThrows(KvTransferException.class, () -> auto.pull(oldShape, prompt, LAYOUT));
            assertTrue(older.getMessage().contains("v0.17 and v0.20"), older.getMessage());
            assertEquals(0, auto.pulls());
            KvBlocks got = auto.pull(params, prompt, LAYOUT);
            for (int l = 0; l < LAYOUT.layers(); l++) {
                for (int i = 0; i < got.keys()[l].length; i++) {
                    boolean inPrompt = i < prompt * LAYOUT.rowFloats();
                    assertEquals(inPrompt ? b.keys()[l][i] : 0f, got.keys()[l][i], "layer " + l + " K " + i);
                    assertEquals(inPrompt ? b.values()[l][i] : 0f, got.values()[l][i], "layer " + l + " V " + i);
                }
            }
            await(() -> producer.heldRequests() == 1, "the read's notification frees the blocks");
            assertEquals(1, auto.pulls());
        }
    }

    @Test
    void logicalBlocksOfSeveralKernelBlocksAreReadAsThoseBlocks() {
        assertArrayEquals(new int[] {2, 3, 10, 11}, VllmNixlClient.kernelBlocks(new int[] {1, 5}, 2));
        assertArrayEquals(new int[] {4, 6}, VllmNixlClient.kernelBlocks(new int[] {4, 6}, 1));
    }

    @Test
    void aVersion12ClientAskingAVersion2PrefillNodeIsToldToChangeTheSetting() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        try (var producer = new VllmNixlProducer(
                        lib, "engine-2x", List.of("UCX"), LAYOUT, VLLM_BLOCK, 8, HASH, Duration.ofMinutes(1), null);
                var side = new VllmSideChannel("127.0.0.1", 0, rank -> rank == 0 ? producer.handshakePayload() : null);
                var client = new VllmNixlClient(
                        lib, "jepd-decode-12x", List.of("UCX"), HASH, Duration.ofSeconds(20), VllmWireVersion.V12)) {
            int[] ids = producer.hold("cmpl-2x", blocks(10, 41), 37);
            // Params of version 12's shape naming a prefill node that speaks version 2 (a misconfigured pair).
            var params = KvTransferParams.heldPerGroup("engine-2x", ids, "cmpl-2x", "127.0.0.1", side.port(), 37);
            var e = assertThrows(KvTransferException.class, () -> client.pull(params, 37, LAYOUT));
            assertTrue(
                    e.getMessage().contains("1 frames") && e.getMessage().contains("vllm_wire_version"),
                    e.getMessage());
            assertEquals(1, producer.heldRequests(), "nothing was read");
        }
    }
}
