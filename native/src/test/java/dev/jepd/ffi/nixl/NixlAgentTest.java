package dev.jepd.ffi.nixl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.ffi.NativeMemory;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Two real NIXL agents over UCX in this process: metadata exchange, a one-sided read, notifications. */
@Tag("nixl")
class NixlAgentTest {
    static NixlLibrary lib;

    @BeforeEach
    void library() {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
        lib = NixlLibrary.find().orElseThrow();
    }

    @Test
    void aReadCopiesTheRemoteBytesAndItsNotificationArrives() {
        try (NixlAgent p = NixlAgent.create(lib, "test-prefill");
                NixlAgent d = NixlAgent.create(lib, "test-decode");
                NativeMemory src = NativeMemory.allocate(1 << 20);
                NativeMemory dst = NativeMemory.allocate(1 << 20)) {
            assertTrue(
                    p.availablePlugins().contains("UCX"), p.availablePlugins().toString());
            p.createBackend("UCX", Map.of());
            d.createBackend("UCX", Map.of());
            for (int i = 0; i < (1 << 18); i++) {
                src.segment().setAtIndex(ValueLayout.JAVA_INT, i, i * 31 + 7);
            }
            dst.segment().fill((byte) 0);
            try (NixlAgent.Registration rs = p.registerDram(src.segment());
                    NixlAgent.Registration rd = d.registerDram(dst.segment())) {
                assertEquals("test-prefill", d.loadRemote(p.localMetadata()));
                // Read the second half of the source into the start of the destination.
                long half = 1 << 19;
                try (NixlAgent.Transfer t = d.read(
                        dst.segment().asSlice(0, half),
                        "test-prefill",
                        src.address() + half,
                        "done-1".getBytes(StandardCharsets.UTF_8))) {
                    assertTrue(t.await(Duration.ofSeconds(20)), "the read finished");
                }
                assertArrayEquals(
                        src.segment().asSlice(half, half).toArray(ValueLayout.JAVA_BYTE),
                        dst.segment().asSlice(0, half).toArray(ValueLayout.JAVA_BYTE));
                assertEquals(0, dst.segment().get(ValueLayout.JAVA_BYTE, half), "nothing written past the read");

                d.notify("test-prefill", "release-1".getBytes(StandardCharsets.UTF_8));
                List<String> got = new ArrayList<>();
                long deadline = System.nanoTime() + 20_000_000_000L;
                while (got.size() < 2 && System.nanoTime() < deadline) {
                    for (NixlAgent.Notification n : p.takeNotifications()) {
                        assertEquals("test-decode", n.fromAgent());
                        got.add(n.text());
                    }
                }
                assertEquals(List.of("done-1", "release-1"), got);
            }
        }
    }

    @Test
    void errorsAreExceptionsThatNameTheCall() {
        try (NixlAgent a = NixlAgent.create(lib, "test-errors")) {
            NixlException noPlugin = assertThrows(NixlException.class, () -> a.createBackend("NO_SUCH", Map.of()));
            assertTrue(noPlugin.getMessage().contains("no NO_SUCH backend plugin"), noPlugin.getMessage());
            NixlException garbage = assertThrows(NixlException.class, () -> a.loadRemote(new byte[] {1, 2, 3}));
            assertTrue(garbage.getMessage().contains("load remote metadata"), garbage.getMessage());
            a.createBackend("UCX", Map.of());
            try (NativeMemory m = NativeMemory.allocate(4096)) {
                // A read from an agent whose metadata was never loaded.
                NixlException unknown =
                        assertThrows(NixlException.class, () -> a.read(m.segment(), "nobody", 4096, null));
                assertFalse(unknown.getMessage().isEmpty());
            }
        }
    }
}
