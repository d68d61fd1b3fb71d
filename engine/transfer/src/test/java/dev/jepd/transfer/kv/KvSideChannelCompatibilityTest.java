package dev.jepd.transfer.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.transfer.channel.ChannelStatus;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * A node that speaks {@link KvWire}'s whole frames itself (as JEPD nodes from before the generic side channel
 * did) against today's {@link JepdKvServer}: the bytes on the wire are the protocol's, not the channel's own.
 */
class KvSideChannelCompatibilityTest {
    private static <T> T exchange(int port, KvWire.Request request, KvWireReader<T> reader) throws IOException {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(5000);
            KvWire.writeRequest(new DataOutputStream(s.getOutputStream()), request);
            return reader.read(new DataInputStream(new BufferedInputStream(s.getInputStream())));
        }
    }

    private interface KvWireReader<T> {
        T read(DataInputStream in) throws IOException;
    }

    @Test
    void wholeFrameReadsReleasesAndRefusalsMatchTheProtocol() throws IOException {
        KvWireTest.FixedSource source = new KvWireTest.FixedSource();
        try (JepdKvServer server = new JepdKvServer(source, "eng-1", "127.0.0.1", 0, Duration.ofSeconds(5))) {
            KvBlocks got = exchange(
                    server.port(),
                    KvWire.Request.read("eng-1", "r1", 6, new int[] {4, 5}),
                    in -> KvWire.readBlocks(in, KvWireTest.LAYOUT, 2));
            assertArrayEquals(KvWireTest.blocks(2).values()[0], got.values()[0]);

            KvWire.RemoteError missing = assertThrows(
                    KvWire.RemoteError.class,
                    () -> exchange(
                            server.port(),
                            KvWire.Request.read("eng-1", "r2", 6, new int[] {4, 5}),
                            in -> KvWire.readBlocks(in, KvWireTest.LAYOUT, 2)));
            assertEquals(ChannelStatus.REJECTED, missing.status(), "a KV transfer error is REJECTED, as before");

            KvWire.RemoteError stage = assertThrows(
                    KvWire.RemoteError.class,
                    () -> exchange(
                            server.port(),
                            KvWire.Request.stage("eng-1", "r1", 6, new int[] {4, 5}),
                            in -> KvWire.readStaged(in, KvWireTest.LAYOUT, 2)));
            assertEquals(ChannelStatus.NOT_SUPPORTED, stage.status());

            KvWire.RemoteError other = assertThrows(
                    KvWire.RemoteError.class,
                    () -> exchange(server.port(), KvWire.Request.release("eng-0", "r1"), in -> {
                        KvWire.readOk(in);
                        return null;
                    }));
            assertEquals(ChannelStatus.NOT_FOUND, other.status());

            exchange(server.port(), KvWire.Request.release("eng-1", "r1"), in -> {
                KvWire.readOk(in);
                return null;
            });
            assertTrue(source.released);
        }
    }

    @Test
    void anOpThisServerDoesNotKnowIsARejectedErrorFrame() throws IOException {
        try (JepdKvServer server =
                        new JepdKvServer(new KvWireTest.FixedSource(), "eng-1", "127.0.0.1", 0, Duration.ofSeconds(5));
                Socket s = new Socket(InetAddress.getLoopbackAddress(), server.port())) {
            s.setSoTimeout(5000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeInt(Integer.reverseBytes(KvWire.MAGIC));
            out.writeByte(77);
            out.flush();
            KvWire.RemoteError e = assertThrows(
                    KvWire.RemoteError.class, () -> KvWire.readOk(new DataInputStream(s.getInputStream())));
            assertEquals(ChannelStatus.REJECTED, e.status());
            assertTrue(e.getMessage().contains("unknown side-channel op 77"), e.getMessage());
        }
    }

    @Test
    void aDirectStageAgainstANodeOlderThanOp4OrWithoutARegisteredCacheIsNotSupported() throws IOException {
        JepdKvClient client = new JepdKvClient(Duration.ofSeconds(5), Duration.ofSeconds(5));
        int[] ids = {4, 5};
        // A node from before STAGE_DIRECT: it answers ops 1-3 only, and op 4 as any unknown op.
        try (dev.jepd.transfer.channel.SideChannelServer old = new dev.jepd.transfer.channel.SideChannelServer(
                "old-kv",
                KvWire.MAGIC,
                java.util.Map.of(KvWire.Op.READ.code, body -> {
                    throw new dev.jepd.transfer.channel.ChannelException(ChannelStatus.REJECTED, "unused");
                }),
                "127.0.0.1",
                0,
                Duration.ofSeconds(5))) {
            KvTransferParams p = KvTransferParams.held("eng-1", ids, "r1", "127.0.0.1", old.port());
            KvWire.RemoteError e =
                    assertThrows(KvWire.RemoteError.class, () -> client.stageDirect(p, 6, KvWireTest.LAYOUT));
            assertEquals(ChannelStatus.NOT_SUPPORTED, e.status(), "the caller falls back to STAGE");
            assertTrue(e.getMessage().contains("unknown side-channel op 4"), e.getMessage());
        }
        // Today's node without NIXL, and one whose stager has no registered cache (the KvStager default).
        KvWireTest.FixedSource source = new KvWireTest.FixedSource();
        KvStager stagedOnly = (requestId, blockIds, promptTokens) -> {
            throw new AssertionError("not called");
        };
        for (KvStager stager : new KvStager[] {null, stagedOnly}) {
            try (JepdKvServer server =
                    new JepdKvServer(source, stager, "eng-1", "127.0.0.1", 0, Duration.ofSeconds(5))) {
                KvTransferParams p = KvTransferParams.held("eng-1", ids, "r1", "127.0.0.1", server.port());
                KvWire.RemoteError e =
                        assertThrows(KvWire.RemoteError.class, () -> client.stageDirect(p, 6, KvWireTest.LAYOUT));
                assertEquals(ChannelStatus.NOT_SUPPORTED, e.status());
            }
        }
    }

    @Test
    void aDirectStageReplyCarriesTheRegionsAndIsCheckedAgainstTheLayout() throws IOException {
        KvWire.Direct d = new KvWire.Direct(
                KvWireTest.LAYOUT,
                2,
                "F32",
                256,
                "agent-p",
                new byte[] {1, 2, 3},
                new long[] {4096, 8192, 12288, 16384},
                1024);
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        KvWire.writeDirectBody(new DataOutputStream(bytes), d);
        KvWire.Direct back = KvWire.readDirectBody(
                new DataInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray())), KvWireTest.LAYOUT, 2);
        assertEquals("F32", back.dtype());
        assertEquals(256, back.blockBytes());
        assertEquals("agent-p", back.agent());
        assertArrayEquals(new byte[] {1, 2, 3}, back.metadata());
        assertArrayEquals(d.bases(), back.bases());
        assertEquals(8192 + 3 * 256, back.blockAddress(1, 3));
        assertThrows(
                dev.jepd.engine.connector.KvTransferException.class, () -> back.blockAddress(1, 4), "past the end");
        // Another layout (here one layer more) is an error, as for STAGE.
        assertThrows(
                dev.jepd.engine.connector.KvTransferException.class,
                () -> KvWire.readDirectBody(
                        new DataInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray())),
                        new dev.jepd.engine.connector.KvLayout(3, 2, 4, 4),
                        2));
    }
}
