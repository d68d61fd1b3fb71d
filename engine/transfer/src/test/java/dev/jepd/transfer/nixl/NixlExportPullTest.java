package dev.jepd.transfer.nixl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.ffi.nixl.NixlLibrary;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.BooleanSupplier;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The generic NIXL exporter and puller between two real agents in one process over UCX, with payloads that are
 * not KV blocks: arbitrary bytes out, the same bytes in, freed by the notification or by the lease.
 */
@Tag("nixl")
class NixlExportPullTest {
    private static final List<String> UCX = List.of("UCX");
    private static final String PREFIX = "test-release:";

    @BeforeEach
    void library() {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
    }

    private static byte[] randomBytes(int n, long seed) {
        RandomGenerator r = RandomGeneratorFactory.of("L64X128MixRandom").create(seed);
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, what);
            Thread.sleep(10);
        }
    }

    private static byte[] bytes(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void anArbitraryPayloadArrivesByteForByteAndTheNotificationFreesIt() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        Queue<String> notified = new ConcurrentLinkedQueue<>();
        byte[] blob = randomBytes(300_001, 7); // odd length: nothing here assumes floats or blocks
        byte[] text = "an encoder output, or anything else".getBytes(StandardCharsets.UTF_8);
        try (NixlExporter exporter =
                        new NixlExporter(lib, "x-export", UCX, 1 << 20, Duration.ofMinutes(5), PREFIX, notified::add);
                NixlPuller puller = new NixlPuller(lib, "x-pull", UCX, 1 << 20, Duration.ofSeconds(20))) {
            NixlExport a = exporter.export("blob", blob);
            NixlExport b = exporter.export("text", text);
            assertEquals("x-export", a.agent());
            assertEquals(blob.length, a.bytes());
            assertEquals(2, exporter.exports());
            assertTrue(exporter.exportedBytes() >= blob.length + text.length);

            assertArrayEquals(blob, puller.pull(a, NixlExportPullTest::bytes));
            assertArrayEquals(text, puller.pull(b, NixlExportPullTest::bytes));
            assertEquals(2, exporter.exports(), "pulling alone frees nothing");

            puller.notify(a, NixlExporter.releaseMessage(PREFIX, "blob"));
            await(() -> exporter.exports() == 1, "the notification frees the blob's range");
            await(() -> notified.contains("blob"), "the exporter's owner hears of the release");
            assertFalse(exporter.release("blob"), "already released");

            assertTrue(exporter.release("text"), "a release by id, as over the side channel");
            assertEquals(0, exporter.exportedBytes());
        }
    }

    @Test
    void aPayloadLargerThanTheReceiveAreaIsReadIntoABufferOfItsOwn() {
        NixlLibrary lib = NixlLibrary.require();
        byte[] big = randomBytes(3 << 20, 11);
        try (NixlExporter exporter =
                        new NixlExporter(lib, "y-export", UCX, 4 << 20, Duration.ofMinutes(5), PREFIX, null);
                NixlPuller puller = new NixlPuller(lib, "y-pull", UCX, 64 << 10, Duration.ofSeconds(20))) {
            NixlExport e = exporter.export("big", big);
            // The decoder sees exactly the payload, wherever the puller put it.
            assertArrayEquals(big, puller.pull(e, s -> {
                assertEquals(big.length, s.byteSize());
                return bytes(s);
            }));
        }
    }

    @Test
    void reExportingAnIdReplacesItsRangeAndAFullAreaIsAClearError() {
        NixlLibrary lib = NixlLibrary.require();
        try (NixlExporter exporter =
                        new NixlExporter(lib, "z-export", UCX, 64 << 10, Duration.ofMinutes(5), PREFIX, null);
                NixlPuller puller = new NixlPuller(lib, "z-pull", UCX, 64 << 10, Duration.ofSeconds(20))) {
            exporter.export("id", randomBytes(40_000, 1));
            NixlExport second = exporter.export("id", randomBytes(40_000, 2)); // fits only if the first was freed
            assertEquals(1, exporter.exports());
            assertArrayEquals(randomBytes(40_000, 2), puller.pull(second, NixlExportPullTest::bytes));

            NixlTransferException full =
                    assertThrows(NixlTransferException.class, () -> exporter.export("other", new byte[40_000]));
            assertTrue(full.getMessage().contains("no room for 40000 bytes"), full.getMessage());
            assertEquals(1, exporter.exports(), "a failed export holds nothing");
        }
    }

    @Test
    void anExportNobodyReleasesIsFreedWhenItsLeaseRunsOut() throws Exception {
        NixlLibrary lib = NixlLibrary.require();
        try (NixlExporter exporter =
                new NixlExporter(lib, "w-export", UCX, 64 << 10, Duration.ofMillis(100), PREFIX, null)) {
            exporter.export("forgotten", new byte[1000]);
            assertEquals(1, exporter.exports());
            await(() -> exporter.exports() == 0 && exporter.exportedBytes() == 0, "the lease expires the export");
            assertFalse(exporter.release("forgotten"));
        }
    }
}
