package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvRegions;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.generate.EngineCore;
import dev.jepd.engine.generate.EngineRequest;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.KvHandoff;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.transfer.kv.JepdKvClient;
import dev.jepd.transfer.kv.JepdKvServer;
import dev.jepd.transfer.kv.KvTransferParams;
import dev.jepd.transfer.nixl.NixlKvClient;
import dev.jepd.transfer.nixl.NixlKvProducer;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The NIXL transport between two real engines in one process: the prefill engine's blocks staged in a
 * NIXL-registered buffer, read by the decode side's NIXL agent over UCX, released by a NIXL notification.
 */
@Tag("nixl")
class NixlKvTransferTest {
    static final List<String> UCX = List.of("UCX");

    @BeforeAll
    static void load() {
        if (NixlLibrary.find().isPresent()) {
            EngineGoldenTest.load();
        }
    }

    @AfterAll
    static void close() {
        if (NixlLibrary.find().isPresent()) {
            EngineGoldenTest.close();
        }
    }

    @BeforeEach
    void library() {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
    }

    static JepdKvClient sideChannel() {
        return new JepdKvClient(Duration.ofSeconds(5), Duration.ofSeconds(20));
    }

    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, what);
            Thread.sleep(10);
        }
    }

    @Test
    void aDecodeEngineReadingWithNixlGeneratesTheGoldenTokensAndTheNotificationFreesTheBlocks() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        String name = GoldenCase.NAMES[0];
        try (EngineCore p = RemoteKvEngineTest.engine();
                EngineCore d = RemoteKvEngineTest.engine();
                NixlKvProducer producer = new NixlKvProducer(lib, "t-prefill", UCX, p, 8 << 20, Duration.ofMinutes(5));
                JepdKvServer server =
                        new JepdKvServer(producer, producer, "eng-p", "127.0.0.1", 0, Duration.ofSeconds(20));
                NixlKvClient client =
                        new NixlKvClient(lib, "t-decode", UCX, 8 << 20, sideChannel(), Duration.ofSeconds(20))) {
            GenerationRequest prefill = EngineGoldenTest.goldenRequest(name, "p-1", 1);
            int prompt = prefill.promptIds().length;
            p.submitForRemoteDecode(prefill, new EngineGoldenTest.Collect(), Duration.ofMinutes(5));
            RemoteKvEngineTest.drain(p);
            int[] held = p.heldBlockIds("p-1");
            KvTransferParams params = KvTransferParams.held("eng-p", held, "p-1", "127.0.0.1", server.port());

            KvBlocks pulled = client.pull(params, prompt, d.layout());
            assertEquals(1, client.nixlPulls());
            assertEquals(0, client.sideChannelPulls());
            assertTrue(producer.stagedBytes() > 0, "staged until confirmed");
            // Bit for bit what the side channel would have carried.
            KvBlocks direct = p.read("p-1", held, prompt);
            for (int l = 0; l < direct.layout().layers(); l++) {
                assertTrue(java.util.Arrays.equals(direct.keys()[l], pulled.keys()[l]), "K layer " + l);
                assertTrue(java.util.Arrays.equals(direct.values()[l], pulled.values()[l]), "V layer " + l);
            }

            EngineGoldenTest.Collect out = new EngineGoldenTest.Collect();
            d.submitWithRemoteKv(EngineGoldenTest.goldenRequest(name, "d-1", 16), out, pulled);
            RemoteKvEngineTest.drain(d);
            assertNull(out.error);
            List<Integer> expected = new ArrayList<>();
            try (GoldenCase g = GoldenCase.load(name)) {
                for (long id : g.longs("generated_ids")) {
                    expected.add((int) id);
                }
            }
            assertEquals(expected, out.ids);

            client.confirm(params); // a NIXL notification, handled on the producer's poll thread
            await(() -> p.usedBlocks() == 0, "the notification freed the held blocks");
            assertEquals(0, producer.stagedBytes());
            assertEquals(1, p.leases().releasedTotal());
            assertThrows(KvTransferException.class, () -> client.pull(params, prompt, d.layout()), "gone");
        }
    }

    /** The rows of blocks {@code blockIds} of region {@code rows} (one layer's K or V), as f32. */
    static float[] rowsOf(MemorySegment region, KvRegions r, int[] blockIds) {
        int perBlock = Math.toIntExact(r.blockBytes() / Float.BYTES);
        float[] out = new float[perBlock * blockIds.length];
        for (int b = 0; b < blockIds.length; b++) {
            MemorySegment.copy(
                    region,
                    ValueLayout.JAVA_FLOAT_UNALIGNED,
                    blockIds[b] * r.blockBytes(),
                    out,
                    b * perBlock,
                    perBlock);
        }
        return out;
    }

    @Test
    void aDirectPullLandsInTheDecodeCacheByteForByteAsTheStagedOneAndCopiesNothing() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        String name = GoldenCase.NAMES[0];
        try (EngineCore p = RemoteKvEngineTest.engine();
                EngineCore d = RemoteKvEngineTest.engine();
                NixlKvProducer producer =
                        new NixlKvProducer(lib, "t-prefill-direct", UCX, p, 8 << 20, Duration.ofMinutes(5));
                JepdKvServer server =
                        new JepdKvServer(producer, producer, "eng-pd", "127.0.0.1", 0, Duration.ofSeconds(20));
                NixlKvClient client = new NixlKvClient(
                        lib,
                        "t-decode-direct",
                        UCX,
                        8 << 20,
                        d.regions().orElseThrow(),
                        sideChannel(),
                        Duration.ofSeconds(20))) {
            assertTrue(producer.cacheRegistered(), "the prefill engine's cache has registrable memory");
            KvRegions local = d.regions().orElseThrow();
            assertEquals(dev.jepd.tensor.DType.F32, local.dtype());
            GenerationRequest prefill = EngineGoldenTest.goldenRequest(name, "p-1", 1);
            int prompt = prefill.promptIds().length;
            p.submitForRemoteDecode(prefill, new EngineGoldenTest.Collect(), Duration.ofMinutes(5));
            RemoteKvEngineTest.drain(p);
            int[] held = p.heldBlockIds("p-1");
            KvTransferParams params = KvTransferParams.held("eng-pd", held, "p-1", "127.0.0.1", server.port());

            // The staged pull (STAGE: a copy into the staging buffer, a copy out of the receive buffer).
            KvBlocks staged = client.pull(params, prompt, d.layout());
            assertEquals(1, producer.stagedCopies());
            assertEquals(1, client.bufferedReads());

            // The direct pull into free blocks of d's cache (d has run nothing: the last blocks are free).
            int[] into = new int[held.length];
            for (int b = 0; b < into.length; b++) {
                into[b] = 63 - 2 * b; // not contiguous, not in order: each block lands where it is told
            }
            assertNull(client.pullInto(params, prompt, d.layout(), local, into));
            assertEquals(1, client.directPulls());
            assertEquals(1, producer.directStages());
            assertEquals(1, producer.stagedCopies(), "no staging copy on the prefill side");
            assertEquals(1, client.bufferedReads(), "no read through the receive buffer on the decode side");
            for (int l = 0; l < d.layout().layers(); l++) {
                assertTrue(java.util.Arrays.equals(staged.keys()[l], rowsOf(local.keys()[l], local, into)), "K " + l);
                assertTrue(
                        java.util.Arrays.equals(staged.values()[l], rowsOf(local.values()[l], local, into)), "V " + l);
            }

            // Token for token: the decode engine allocating the blocks and pulling into them itself.
            AtomicInteger copiedPulls = new AtomicInteger();
            KvHandoff.RemoteKv source = new KvHandoff.RemoteKv() {
                @Override
                public KvBlocks pull(KvLayout layout, int promptTokens) {
                    copiedPulls.incrementAndGet();
                    return client.pull(params, promptTokens, layout);
                }

                @Override
                public boolean pullsInPlace() {
                    return true;
                }

                @Override
                public KvBlocks pullInto(KvLayout layout, int promptTokens, KvRegions regions, int[] blockIds) {
                    return client.pullInto(params, promptTokens, layout, regions, blockIds);
                }
            };
            EngineGoldenTest.Collect out = new EngineGoldenTest.Collect();
            d.submit(
                    new EngineRequest(
                            EngineGoldenTest.goldenRequest(name, "d-1", 16), new KvHandoff.LoadRemote(source, false)),
                    out);
            await(() -> d.numWaitingForRemoteKv() == 0, "the pull ended");
            RemoteKvEngineTest.drain(d);
            assertNull(out.error);
            assertEquals(0, copiedPulls.get());
            assertEquals(2, client.directPulls());
            assertEquals(1, producer.stagedCopies(), "still no staging copy");
            assertEquals(prompt - 1, d.stats().remoteKvTokens());
            List<Integer> expected = new ArrayList<>();
            try (GoldenCase g = GoldenCase.load(name)) {
                for (long id : g.longs("generated_ids")) {
                    expected.add((int) id);
                }
            }
            assertEquals(expected, out.ids);

            client.confirm(params); // the release notification, as after a staged pull
            await(() -> p.usedBlocks() == 0, "the notification freed the held blocks");
        }
    }

    @Test
    void aDecodeCacheOfAnotherDtypeFallsBackToTheStagedReadAtTheHandshake() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        try (EngineCore p = RemoteKvEngineTest.engine();
                java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            KvLayout layout = p.layout();
            // A bf16 cache of this layout (as --dtype bfloat16 makes), 8 blocks a region.
            long blockBytes = KvRegions.blockBytes(layout, dev.jepd.tensor.DType.BF16);
            MemorySegment[] k = new MemorySegment[layout.layers()];
            MemorySegment[] v = new MemorySegment[layout.layers()];
            for (int l = 0; l < layout.layers(); l++) {
                k[l] = arena.allocate(8 * blockBytes, 64);
                v[l] = arena.allocate(8 * blockBytes, 64);
            }
            KvRegions bf16 = new KvRegions(dev.jepd.tensor.DType.BF16, blockBytes, k, v);
            try (NixlKvProducer producer =
                            new NixlKvProducer(lib, "t-prefill-f32", UCX, p, 8 << 20, Duration.ofMinutes(5));
                    JepdKvServer server =
                            new JepdKvServer(producer, producer, "eng-f32", "127.0.0.1", 0, Duration.ofSeconds(20));
                    NixlKvClient client = new NixlKvClient(
                            lib, "t-decode-bf16", UCX, 8 << 20, bf16, sideChannel(), Duration.ofSeconds(20))) {
                p.submitForRemoteDecode(
                        EngineGoldenTest.textRequest("b-1", "Hello there, how are you today?", 1),
                        new EngineGoldenTest.Collect(),
                        Duration.ofMinutes(5));
                RemoteKvEngineTest.drain(p);
                int[] held = p.heldBlockIds("b-1");
                int prompt = p.leases().get("b-1").promptTokens();
                KvTransferParams params = KvTransferParams.held("eng-f32", held, "b-1", "127.0.0.1", server.port());
                int[] into = new int[held.length];
                for (int b = 0; b < into.length; b++) {
                    into[b] = b;
                }
                KvBlocks pulled = client.pullInto(params, prompt, layout, bf16, into);
                assertTrue(pulled != null, "rows to convert, not blocks in place");
                assertEquals(1, producer.directStages(), "the handshake asked");
                assertEquals(1, producer.stagedCopies(), "then the staged read");
                assertEquals(0, client.directPulls());
                KvBlocks expected = p.read("b-1", held, prompt);
                for (int l = 0; l < layout.layers(); l++) {
                    assertTrue(java.util.Arrays.equals(expected.keys()[l], pulled.keys()[l]), "K layer " + l);
                }
                // Remembered: the next pull from that engine skips the direct handshake.
                client.pullInto(params, prompt, layout, bf16, into);
                assertEquals(1, producer.directStages());
                assertEquals(2, producer.stagedCopies());
            }
        }
    }

    @Test
    void aPrefillNodeWithoutNixlIsReadOverTheSideChannel() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        try (EngineCore p = RemoteKvEngineTest.engine();
                JepdKvServer tcpOnly = new JepdKvServer(p, "eng-t", "127.0.0.1", 0, Duration.ofSeconds(20));
                NixlKvClient client =
                        new NixlKvClient(lib, "t-decode-2", UCX, 8 << 20, sideChannel(), Duration.ofSeconds(20))) {
            p.submitForRemoteDecode(
                    EngineGoldenTest.textRequest("t-1", "Hello there, how are you today?", 1),
                    new EngineGoldenTest.Collect(),
                    Duration.ofMinutes(5));
            RemoteKvEngineTest.drain(p);
            int[] held = p.heldBlockIds("t-1");
            int prompt = p.leases().get("t-1").promptTokens();
            KvTransferParams params = KvTransferParams.held("eng-t", held, "t-1", "127.0.0.1", tcpOnly.port());
            KvBlocks pulled = client.pull(params, prompt, p.layout());
            assertEquals(held.length, pulled.numBlocks());
            assertEquals(0, client.nixlPulls());
            assertEquals(1, client.sideChannelPulls());
            client.confirm(params); // over the side channel, as the pull
            assertEquals(0, p.usedBlocks());
        }
    }

    @Test
    void aFullStagingBufferIsAClearErrorAndAnExpiredStageIsFreed() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        try (EngineCore p = RemoteKvEngineTest.engine();
                NixlKvProducer producer = new NixlKvProducer(lib, "t-small", UCX, p, 4096, Duration.ofMillis(200))) {
            p.submitForRemoteDecode(
                    EngineGoldenTest.textRequest("s-1", "Count: one two three four five six seven eight nine ten.", 1),
                    new EngineGoldenTest.Collect(),
                    Duration.ofMinutes(5));
            RemoteKvEngineTest.drain(p);
            int[] held = p.heldBlockIds("s-1");
            int prompt = p.leases().get("s-1").promptTokens();
            KvTransferException e = assertThrows(KvTransferException.class, () -> producer.stage("s-1", held, prompt));
            assertTrue(e.getMessage().contains("nixl_staging_mib"), e.getMessage());
            assertThrows(KvTransferException.class, () -> producer.stage("nobody", held, prompt));
        }
        try (EngineCore p = RemoteKvEngineTest.engine();
                NixlKvProducer producer =
                        new NixlKvProducer(lib, "t-expire", UCX, p, 8 << 20, Duration.ofMillis(200))) {
            p.submitForRemoteDecode(
                    EngineGoldenTest.textRequest("s-2", "Hi", 1),
                    new EngineGoldenTest.Collect(),
                    Duration.ofMinutes(5));
            RemoteKvEngineTest.drain(p);
            producer.stage("s-2", p.heldBlockIds("s-2"), p.leases().get("s-2").promptTokens());
            assertTrue(producer.stagedBytes() > 0);
            await(() -> producer.stagedBytes() == 0, "the staged copy is freed when its lease runs out");
        }
    }
}
