package dev.jepd.transfer.vllm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.ffi.nixl.NixlLibrary;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A JEPD prefill area served as vLLM's NixlConnector prefill worker, read by a peer that does what vLLM's decode
 * worker does (ZMQ handshake, msgpack payload, one NIXL READ of region × block descriptors, the
 * {@code "<id>:1"} notification), over real UCX in one process.
 */
@Tag("nixl")
class VllmNixlPrefillTest {
    // JEPD's block size differs from vLLM's on purpose: the prompt is re-cut into vLLM's 16-token blocks.
    static final KvLayout LAYOUT = new KvLayout(2, 2, 8, 4);
    static final int VLLM_BLOCK = 16;
    static final String HASH = "0".repeat(64);

    @BeforeEach
    void library() {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
    }

    /** Blocks whose values are exact in bf16 (8 significant bits), so the expected bytes need no rounding. */
    static KvBlocks blocks(int jepdBlocks, long seed) {
        RandomGenerator r = RandomGeneratorFactory.of("L64X128MixRandom").create(seed);
        int n = (int) LAYOUT.blockFloats(jepdBlocks);
        float[][] k = new float[LAYOUT.layers()][n];
        float[][] v = new float[LAYOUT.layers()][n];
        for (int l = 0; l < LAYOUT.layers(); l++) {
            for (int i = 0; i < n; i++) {
                k[l][i] = (r.nextInt(511) - 255) / 64f;
                v[l][i] = (r.nextInt(511) - 255) / 32f;
            }
        }
        return new KvBlocks(LAYOUT, jepdBlocks, k, v);
    }

    /** Region {@code 2l + kv} as vLLM holds a prompt: blocks {@code [heads, 16, dim]} bf16 LE, zero past the end. */
    static byte[] expectedRegion(KvBlocks b, int promptTokens, int layer, boolean value) {
        float[] rows = value ? b.values()[layer] : b.keys()[layer];
        int vblocks = (promptTokens + VLLM_BLOCK - 1) / VLLM_BLOCK;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int j = 0; j < vblocks; j++) {
            for (int h = 0; h < LAYOUT.kvHeads(); h++) {
                for (int t = 0; t < VLLM_BLOCK; t++) {
                    int token = j * VLLM_BLOCK + t;
                    for (int d = 0; d < LAYOUT.headDim(); d++) {
                        int bits = token < promptTokens
                                ? Float.floatToRawIntBits(rows[token * LAYOUT.rowFloats() + h * LAYOUT.headDim() + d])
                                        >>> 16
                                : 0;
                        out.write(bits & 0xff);
                        out.write(bits >>> 8);
                    }
                }
            }
        }
        return out.toByteArray();
    }

    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, what);
            Thread.sleep(10);
        }
    }

    @Test
    void aVllmDecodePeerHandshakesReadsTheHndBf16BlocksAndItsNotificationFreesThem() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        List<String> freed = new CopyOnWriteArrayList<>();
        try (var producer = new VllmNixlProducer(
                        lib,
                        "engine-p",
                        List.of("UCX"),
                        LAYOUT,
                        VLLM_BLOCK,
                        8,
                        HASH,
                        Duration.ofMinutes(1),
                        freed::add);
                var side = new VllmSideChannel("127.0.0.1", 0, rank -> rank == 0 ? producer.handshakePayload() : null);
                var peer = new VllmDecodePeer(lib, "vllm-decode-peer")) {
            int prompt = 37; // 10 JEPD blocks of 4, 3 vLLM blocks of 16 (the last 5/16 full)
            KvBlocks b = blocks(10, 7);
            int[] first = producer.hold("other", blocks(10, 8), 20); // takes blocks, so ids are not 0..n
            int[] ids = producer.hold("cmpl-1", b, prompt);
            assertEquals(2, first.length);
            assertEquals(3, ids.length);
            assertEquals(3, producer.freeBlocks());

            VllmNixlWire.AgentMetadata m = peer.handshake("127.0.0.1", side.port(), HASH, "engine-p");
            assertEquals(4, m.kvCachesBaseAddr().length); // 2 layers × (K, V)
            assertEquals(8, m.numBlocks());
            assertEquals(16, m.blockSize());
            assertEquals("HND", m.kvCacheLayout());
            assertEquals(2L * 16 * 8 * 2, m.blockLens()[0]);

            byte[][] read = peer.read(m, ids, "cmpl-1");
            for (int l = 0; l < LAYOUT.layers(); l++) {
                assertArrayEquals(expectedRegion(b, prompt, l, false), read[2 * l], "layer " + l + " K");
                assertArrayEquals(expectedRegion(b, prompt, l, true), read[2 * l + 1], "layer " + l + " V");
            }
            await(() -> producer.heldRequests() == 1, "the notification frees the request's blocks");
            // the producer tells of the release after it has freed the blocks: wait for that callback too
            await(() -> freed.size() == 1, "the release is reported");
            assertEquals(List.of("cmpl-1"), freed);
            assertEquals(6, producer.freeBlocks());
            assertEquals(1, producer.released());

            // Two decode workers (vLLM decode tp 2 over this tp-1 node): freed at the second notification only.
            producer.hold("cmpl-tp2", b, prompt);
            peer.notifyOnly(m, "cmpl-tp2", 2);
            Thread.sleep(200);
            assertEquals(2, producer.heldRequests(), "one of two decode workers notified");
            peer.notifyOnly(m, "cmpl-tp2", 2);
            await(() -> producer.heldRequests() == 1, "the second worker's notification frees the blocks");
            await(() -> freed.size() == 2, "the release is reported");
            assertEquals(List.of("cmpl-1", "cmpl-tp2"), freed);

            // A request for a tp rank this node does not have gets an empty answer at once, not a hang.
            assertEquals(0, peer.ask("127.0.0.1", side.port(), 1).length);
        }
    }

    @Test
    void aJepdDecodeClientPullsFromTheVllmWireAndTheNotificationFreesTheBlocks() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        try (var producer = new VllmNixlProducer(
                        lib, "engine-v", List.of("UCX"), LAYOUT, VLLM_BLOCK, 8, HASH, Duration.ofMinutes(1), null);
                var side = new VllmSideChannel("127.0.0.1", 0, rank -> rank == 0 ? producer.handshakePayload() : null);
                var client = new VllmNixlClient(lib, "jepd-decode-v", List.of("UCX"), HASH, Duration.ofSeconds(20));
                var wrongHash = new VllmNixlClient(
                        lib, "jepd-decode-w", List.of("UCX"), "f".repeat(64), Duration.ofSeconds(20))) {
            int prompt = 37;
            KvBlocks b = blocks(10, 11);
            producer.hold("other", blocks(10, 12), 5);
            int[] ids = producer.hold("cmpl-2", b, prompt);
            var params = new dev.jepd.transfer.kv.KvTransferParams(
                    false, true, "engine-v", ids, "cmpl-2", "127.0.0.1", side.port(), 1);
            KvBlocks got = client.pull(params, prompt, LAYOUT);
            assertEquals(10, got.numBlocks());
            for (int l = 0; l < LAYOUT.layers(); l++) {
                for (int i = 0; i < got.keys()[l].length; i++) {
                    boolean inPrompt = i < prompt * LAYOUT.rowFloats();
                    assertEquals(inPrompt ? b.keys()[l][i] : 0f, got.keys()[l][i], "layer " + l + " K " + i);
                    assertEquals(inPrompt ? b.values()[l][i] : 0f, got.values()[l][i], "layer " + l + " V " + i);
                }
            }
            await(() -> producer.heldRequests() == 1, "the read's notification frees the blocks");
            assertEquals(1, client.pulls());
            // Another JEPD block size reads the same blocks.
            int[] again = producer.hold("cmpl-3", b, prompt);
            KvLayout eights = new KvLayout(LAYOUT.layers(), LAYOUT.kvHeads(), LAYOUT.headDim(), 8);
            KvBlocks got8 = client.pull(
                    new dev.jepd.transfer.kv.KvTransferParams(
                            false, true, "engine-v", again, "cmpl-3", "127.0.0.1", side.port(), 1),
                    prompt,
                    eights);
            assertEquals(5, got8.numBlocks());
            assertEquals(
                    b.values()[1][prompt * LAYOUT.rowFloats() - 1], got8.values()[1][prompt * LAYOUT.rowFloats() - 1]);
            var e = assertThrows(
                    KvTransferException.class,
                    () -> wrongHash.pull(
                            new dev.jepd.transfer.kv.KvTransferParams(
                                    false, true, "engine-v", again, "cmpl-3", "127.0.0.1", side.port(), 1),
                            prompt,
                            LAYOUT));
            assertTrue(e.getMessage().contains("compatibility hash mismatch"), e.getMessage());
        }
    }

    @Test
    void aFullAreaRefusesAndAnUnreadHoldExpires() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        try (var producer = new VllmNixlProducer(
                lib, "engine-r", List.of("UCX"), LAYOUT, VLLM_BLOCK, 2, HASH, Duration.ofMillis(300), null)) {
            var e = assertThrows(KvTransferException.class, () -> producer.hold("a", blocks(10, 1), 33)); // 3 > 2
            assertTrue(e.getMessage().contains("nixl_staging_mib"), e.getMessage());
            producer.hold("b", blocks(10, 1), 20);
            assertEquals(0, producer.freeBlocks());
            await(() -> producer.freeBlocks() == 2, "the lease frees unread blocks");
            assertEquals(1, producer.expired());
        }
    }
}
