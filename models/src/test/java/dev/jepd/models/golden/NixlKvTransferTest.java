package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.generate.EngineCore;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.transfer.kv.JepdKvClient;
import dev.jepd.transfer.kv.JepdKvServer;
import dev.jepd.transfer.kv.KvTransferParams;
import dev.jepd.transfer.nixl.NixlKvClient;
import dev.jepd.transfer.nixl.NixlKvProducer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
