package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.generate.EngineCore;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.SchedulerConfig;
import dev.jepd.engine.sampling.Sampler;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Prefill/decode disaggregation inside the engine, without HTTP: one engine prefills and holds the blocks,
 * another loads them at its own slots and must then generate the golden tokens.
 */
class RemoteKvEngineTest {
    @BeforeAll
    static void load() {
        EngineGoldenTest.load();
    }

    @AfterAll
    static void close() {
        EngineGoldenTest.close();
    }

    static EngineCore engine() {
        return new EngineCore(
                EngineGoldenTest.model.language().orElseThrow(),
                EngineGoldenTest.backend,
                EngineGoldenTest.tokenizer,
                new SchedulerConfig(8, 2048, 4096, 16, 64),
                List.of(151645, 151643),
                new Sampler(0));
    }

    static void drain(EngineCore core) {
        for (int guard = 0; core.hasWork(); guard++) {
            core.step();
            assertTrue(guard < 10_000, "engine did not converge");
        }
    }

    @Test
    void aDecodeEngineFromPulledBlocksGeneratesTheGoldenTokens() {
        for (String name : GoldenCase.NAMES) {
            try (EngineCore p = engine();
                    EngineCore d = engine()) {
                GenerationRequest prefill = EngineGoldenTest.goldenRequest(name, "p-" + name, 1);
                int prompt = prefill.promptIds().length;
                EngineGoldenTest.Collect first = new EngineGoldenTest.Collect();
                p.submitForRemoteDecode(prefill, first, Duration.ofMinutes(5));
                drain(p);
                assertEquals(1, first.ids.size());
                int[] held = p.heldBlockIds("p-" + name);
                assertNotNull(held, "blocks held after the finish");
                assertEquals((prompt + 15) / 16, held.length);
                assertEquals(held.length, p.heldBlocks());
                assertEquals(held.length, p.usedBlocks());

                assertThrows(KvTransferException.class, () -> p.read("p-" + name, held, prompt + 1));
                assertThrows(KvTransferException.class, () -> p.read("nobody", held, prompt));
                KvBlocks blocks = p.read("p-" + name, held, prompt);
                assertTrue(p.release("p-" + name));
                assertFalse(p.release("p-" + name));
                assertEquals(0, p.usedBlocks(), "confirmed: every block back in the pool");

                // Occupy the decode engine's first blocks so the pulled rows land at other slots than on P.
                EngineGoldenTest.Collect other = new EngineGoldenTest.Collect();
                d.submit(EngineGoldenTest.textRequest("other", "Hello there, how are you today?", 4), other);
                d.step();
                EngineGoldenTest.Collect out = new EngineGoldenTest.Collect();
                d.submitWithRemoteKv(EngineGoldenTest.goldenRequest(name, "d-" + name, 16), out, blocks);
                drain(d);
                assertNull(out.error);
                List<Integer> expected = new ArrayList<>();
                try (GoldenCase g = GoldenCase.load(name)) {
                    for (long id : g.longs("generated_ids")) {
                        expected.add((int) id);
                    }
                }
                assertEquals(expected, out.ids, name);
                assertEquals(first.ids.getFirst(), out.ids.getFirst(), "P's token is D's first token");
                assertEquals(prompt - 1, d.stats().remoteKvTokens(), "only the last prompt token was computed on D");
                assertEquals(0, d.usedBlocks());
            }
        }
    }

    @Test
    void anUnconfirmedLeaseExpiresAndFreesItsBlocks() throws Exception {
        try (EngineCore p = engine()) {
            p.submitForRemoteDecode(
                    EngineGoldenTest.textRequest("t", "Count: one two three four five six seven eight nine ten.", 1),
                    new EngineGoldenTest.Collect(),
                    Duration.ofMillis(50));
            drain(p);
            int[] held = p.heldBlockIds("t");
            assertNotNull(held);
            assertTrue(p.usedBlocks() > 0);
            Thread.sleep(100);
            assertEquals(1, p.expireLeases());
            assertEquals(0, p.usedBlocks());
            assertEquals(0, p.heldBlocks());
            assertNull(p.heldBlockIds("t"));
            assertThrows(KvTransferException.class, () -> p.read("t", held, 1));
        }
    }

    @Test
    void pulledBlocksOfAnotherLayoutAreRefused() {
        try (EngineCore d = engine()) {
            var other = new dev.jepd.engine.connector.KvLayout(
                    d.layout().layers(), d.layout().kvHeads(), d.layout().headDim(), 32);
            KvBlocks foreign = new KvBlocks(other, 0, new float[other.layers()][0], new float[other.layers()][0]);
            assertThrows(
                    KvTransferException.class,
                    () -> d.submitWithRemoteKv(
                            EngineGoldenTest.textRequest("x", "hi", 2), new EngineGoldenTest.Collect(), foreign));
        }
    }
}
