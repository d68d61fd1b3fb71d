package dev.jepd.transfer.ec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.EcEntry;
import dev.jepd.engine.safetensors.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SharedStorageEcConnectorConcurrencyTest {
    private static final int THREADS = 8;
    private static final int OPS_PER_THREAD = 300;
    private static final int TOKENS = 16;
    private static final int DIM = 32;

    @TempDir
    Path root;

    /** Every key always stores the same content, so any complete entry that comes back must equal it. */
    private static float[] contentOf(String key) {
        float[] v = new float[TOKENS * DIM];
        int h = key.hashCode();
        for (int i = 0; i < v.length; i++) {
            v[i] = Math.floorMod(h + i, 200) - 100; // integers in [-100, 100): exact in bf16
        }
        return v;
    }

    /**
     * Eight threads save and load a few shared keys and a few of their own, through two connectors on one directory
     * (two nodes). With {@code capped}, eviction runs all the time too.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void everyLoadIsAMissOrTheWholeEntry(boolean capped) throws Exception {
        long entryBytes = 8 + 80 + 2L * TOKENS * DIM; // close enough: the cap only has to bite
        OptionalLong cap = capped ? OptionalLong.of(4 * entryBytes) : OptionalLong.empty();
        SharedStorageEcConnector[] nodes = {
            new SharedStorageEcConnector(root, DType.BF16, cap), new SharedStorageEcConnector(root, DType.BF16, cap)
        };
        List<String> shared = List.of("shared-0", "shared-1", "shared-2");
        ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
        AtomicInteger hits = new AtomicInteger();
        CyclicBarrier start = new CyclicBarrier(THREADS);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int id = t;
            threads.add(Thread.ofPlatform().start(() -> {
                Random r = new Random(id);
                SharedStorageEcConnector c = nodes[id % 2];
                try {
                    start.await();
                    for (int op = 0; op < OPS_PER_THREAD; op++) {
                        String key = r.nextInt(3) == 0 ? "own-" + id + "-" + r.nextInt(3) : shared.get(r.nextInt(3));
                        if (r.nextBoolean()) {
                            c.save(key, contentOf(key), TOKENS, DIM);
                        } else {
                            c.contains(key);
                            Optional<EcEntry> e = c.load(key, TOKENS, DIM);
                            if (e.isPresent()) {
                                assertArrayEquals(contentOf(key), e.get().rows(), key);
                                hits.incrementAndGet();
                            }
                        }
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        if (!failures.isEmpty()) {
            Throwable first = failures.peek();
            throw new AssertionError(failures.size() + " thread(s) failed; first: " + first, first);
        }
        assertTrue(hits.get() > 0, "some loads hit");
        long ops = 0;
        for (SharedStorageEcConnector c : nodes) {
            ops += c.hits() + c.misses() + c.saves();
        }
        assertEquals((long) THREADS * OPS_PER_THREAD, ops, "every operation counted once");

        // Nothing half-written is left: every file present is a complete, correct entry, and no temporary remains.
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.filter(Files::isRegularFile).toList()) {
                assertEquals("encoder_cache.safetensors", p.getFileName().toString(), "stray file " + p);
                String key = p.getParent().getFileName().toString();
                assertArrayEquals(
                        contentOf(key),
                        nodes[0].load(key, TOKENS, DIM).orElseThrow().rows(),
                        key);
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        if (capped) {
            assertTrue(nodes[0].evictions() + nodes[1].evictions() > 0, "the cap was exercised");
        }
    }
}
