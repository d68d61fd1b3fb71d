package dev.jepd.transfer.vllm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.EcEntry;
import dev.jepd.engine.connector.EcStoreException;
import dev.jepd.engine.connector.EcTransferParams;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.tensor.DType;
import dev.jepd.transfer.ec.EcConfigException;
import dev.jepd.transfer.ec.EcTransferConfig;
import java.net.ServerSocket;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * vLLM's ECCPUConnector (P2P NIXL) between a JEPD producer and a JEPD consumer in one process: real NIXL agents
 * over UCX, real ZMQ sockets on loopback, vLLM's messages. The bytes of each message are pinned by
 * {@link VllmEcWireTest}; here the roles' behaviour: the item arrives equal to its bf16 rounding, the producer's pin
 * ends with the read's notification, and every way a pull can fail is a miss (the node encodes), never an error.
 */
@Tag("nixl")
class VllmEcCpuConnectorTest {
    static final int HIDDEN = 64;

    @BeforeEach
    void library() {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
    }

    static String config(String role, String extra) {
        return "{\"ec_connector\":\"ECCPUConnector\",\"ec_role\":\"" + role + "\",\"engine_id\":\"jepd-test-" + role
                + "-" + System.nanoTime() + "\",\"ec_connector_extra_config\":{\"ec_enable_nixl\":true,"
                + "\"ec_cpu_bytes\":" + (64 * HIDDEN * 2)
                + ",\"side_channel_host\":\"127.0.0.1\",\"side_channel_port\":0"
                + extra + "}}";
    }

    static VllmEcCpuConnector open(String role, String extra) {
        return VllmEcCpuConnector.open(
                NixlLibrary.find().orElseThrow(),
                EcTransferConfig.parse(config(role, extra)),
                "/models/tiny",
                HIDDEN,
                HIDDEN);
    }

    static float[] rows(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    static float bf16(float v) {
        return DType.bf16ToFloat(DType.floatToBf16(v));
    }

    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, what);
            Thread.sleep(5);
        }
    }

    @Test
    void anItemCrossesAsItsBf16RoundingAndThePinEndsWithTheRead() throws Exception {
        try (VllmEcCpuConnector encoder = open("ec_producer", "");
                VllmEcCpuConnector pd = open("ec_consumer", "")) {
            int tokens = 37; // 37 rows of 64: 37 blocks of 128 bytes
            float[] x = rows(tokens * HIDDEN, 1);
            EcTransferParams p = encoder.publish("item-a", x, tokens, HIDDEN);
            assertEquals("127.0.0.1", p.peerHost());
            assertEquals(encoder.sideChannelPort(), p.peerPort());
            assertEquals(37L * HIDDEN * 2, p.sizeBytes());
            assertEquals(List.of(37L, (long) HIDDEN), p.shape());
            assertEquals(Optional.of(p), encoder.held("item-a"), "a repeat is announced again, not re-encoded");

            EcEntry e = pd.lookup("item-a", p, tokens, HIDDEN).orElseThrow();
            for (int i = 0; i < x.length; i++) {
                assertEquals(bf16(x[i]), e.rows()[i], "value " + i);
            }
            assertEquals(1, pd.pulls());
            await(() -> encoder.pinnedItems() == 0, "the READ's notification unpins the item");
            // Pulled items are kept: the same key again is served without asking.
            assertTrue(pd.lookup("item-a", p, tokens, HIDDEN).isPresent());
            assertEquals(1, pd.pulls());
            assertEquals(2, pd.hits());
        }
    }

    @Test
    void anItemThatIsNotAWholeNumberOfBlocksKeepsItsTail() throws Exception {
        try (VllmEcCpuConnector encoder = open("ec_producer", "");
                VllmEcCpuConnector pd = open("ec_consumer", "")) {
            // Qwen3-VL-like: rows wider than a block (DeepStack levels), 3 rows of 96 = 576 values = 4.5 blocks → 5.
            int tokens = 3;
            int dim = 96;
            float[] x = rows(tokens * dim, 2);
            EcTransferParams p = encoder.publish("wide", x, tokens, dim);
            assertEquals(5L * HIDDEN * 2, p.sizeBytes());
            EcEntry e = pd.lookup("wide", p, tokens, dim).orElseThrow();
            assertEquals(bf16(x[x.length - 1]), e.rows()[x.length - 1]);
            assertEquals(bf16(x[0]), e.rows()[0]);
        }
    }

    @Test
    void everyFailedPullIsAMissNotAnError() throws Exception {
        try (VllmEcCpuConnector encoder = open("ec_producer", "");
                VllmEcCpuConnector stranger = open("ec_consumer", ",\"vllm_version\":\"0.30.0\"");
                VllmEcCpuConnector pd = open("ec_consumer", "")) {
            float[] x = rows(4 * HIDDEN, 3);
            EcTransferParams p = encoder.publish("k", x, 4, HIDDEN);
            // Another vLLM version (compatibility hash): NACK_INCOMPAT.
            assertTrue(stranger.lookup("k", p, 4, HIDDEN).isEmpty());
            assertEquals(1, stranger.misses());
            // An item the producer does not have: NACK_MISSING.
            assertTrue(pd.lookup("never-published", p, 4, HIDDEN).isEmpty());
            // The request's image is not what was announced: not even asked.
            assertTrue(pd.lookup("k", p, 5, HIDDEN).isEmpty());
            assertEquals(0, pd.pulls());
            // A producer that is gone: the side channel accepts no connection, given up within seconds.
            int dead;
            try (ServerSocket s = new ServerSocket(0)) {
                dead = s.getLocalPort();
            }
            EcTransferParams gone = EcTransferParams.vllmCpu("127.0.0.1", dead, p.sizeBytes(), p.shape(), null);
            long t = System.nanoTime();
            assertTrue(pd.lookup("k", gone, 4, HIDDEN).isEmpty());
            assertTrue(System.nanoTime() - t < 15_000_000_000L, "a dead producer is given up in seconds");
            // And the live producer still serves the same consumer afterwards.
            assertTrue(pd.lookup("k", p, 4, HIDDEN).isPresent());
            await(() -> encoder.pinnedItems() == 0, "no pin is left behind by the refused or failed asks");
        }
    }

    @Test
    void aFullRegionEvictsTheLeastRecentlyUsedAndRefusesTooLargeAnItem() {
        try (VllmEcCpuConnector encoder = open("ec_producer", "")) {
            for (int i = 0; i < 4; i++) {
                encoder.publish("i" + i, rows(20 * HIDDEN, i), 20, HIDDEN); // 20 blocks each, 64 in all
            }
            assertTrue(encoder.held("i0").isEmpty(), "the oldest was evicted for the fourth");
            assertTrue(encoder.held("i3").isPresent());
            assertEquals(1, encoder.evictions());
            assertThrows(EcStoreException.class, () -> encoder.publish("huge", rows(65 * HIDDEN, 9), 65, HIDDEN));
        }
    }

    @Test
    void wireOneAnnouncesRowBytesAndNoShape() throws Exception {
        try (VllmEcCpuConnector encoder = open("ec_producer", ",\"vllm_ec_wire_version\":1");
                VllmEcCpuConnector pd = open("ec_consumer", ",\"vllm_ec_wire_version\":1")) {
            EcTransferParams p = encoder.publish("w1", rows(6 * HIDDEN, 5), 6, HIDDEN);
            assertNull(p.shape());
            assertEquals(6L * HIDDEN * 2, p.sizeBytes());
            assertTrue(pd.lookup("w1", p, 6, HIDDEN).isPresent());
        }
        try (VllmEcCpuConnector a = open("ec_consumer", ",\"vllm_version\":\"0.30.0\"");
                VllmEcCpuConnector b = open("ec_consumer", "")) {
            assertEquals(
                    VllmEcWire.compatibilityHash("0.30.0", "/models/tiny", "torch.bfloat16", 2 * HIDDEN),
                    a.compatibilityHash());
            assertFalse(a.compatibilityHash().equals(b.compatibilityHash()));
        }
    }

    @Test
    void theConfigIsVllmsAndRefusesTheModesJepdDoesNotHave() {
        EcConfigException offload = assertThrows(
                EcConfigException.class,
                () -> EcTransferConfig.parse("{\"ec_connector\":\"ECCPUConnector\",\"ec_role\":\"ec_both\","
                        + "\"ec_connector_extra_config\":{\"ec_cpu_bytes\":1000000}}"));
        assertTrue(offload.getMessage().contains("ec_enable_nixl"), offload.getMessage());
        EcConfigException size = assertThrows(
                EcConfigException.class,
                () -> EcTransferConfig.parse("{\"ec_connector\":\"ECCPUConnector\",\"ec_role\":\"ec_both\","
                        + "\"ec_connector_extra_config\":{\"ec_enable_nixl\":\"true\"}}"));
        assertTrue(size.getMessage().contains("ec_cpu_bytes"), size.getMessage());
        EcTransferConfig c = EcTransferConfig.parse("{\"ec_connector\":\"ECCPUConnector\",\"ec_role\":\"ec_consumer\","
                + "\"ec_connector_extra_config\":{\"ec_enable_nixl\":\"yes\",\"ec_cpu_bytes\":\"1048576\"}}");
        assertTrue(c.isVllmCpu());
        assertEquals(1 << 20, c.ecCpuBytes());
        assertEquals(30, c.consumerAckTimeout().toSeconds(), "vLLM's wire-2 default");
        assertEquals(2, c.vllmEcWireVersion());
    }
}
