package dev.jepd.transfer.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.transfer.channel.ChannelStatus;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class KvWireTest {
    static final KvLayout LAYOUT = new KvLayout(2, 2, 4, 4);

    static KvBlocks blocks(int n) {
        int floats = (int) LAYOUT.blockFloats(n);
        float[][] k = new float[2][floats];
        float[][] v = new float[2][floats];
        for (int l = 0; l < 2; l++) {
            for (int i = 0; i < floats; i++) {
                k[l][i] = l * 1000 + i + 0.25f;
                v[l][i] = -(l * 1000 + i) - 0.5f;
            }
        }
        return new KvBlocks(LAYOUT, n, k, v);
    }

    static DataInputStream in(ByteArrayOutputStream bytes) {
        return new DataInputStream(new ByteArrayInputStream(bytes.toByteArray()));
    }

    @Test
    void readRequestRoundTripsAndIsLittleEndian() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        KvWire.writeRequest(new DataOutputStream(bytes), KvWire.Request.read("eng", "req-1", 33, new int[] {7, 2, 9}));
        byte[] b = bytes.toByteArray();
        ByteBuffer le = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(KvWire.MAGIC, le.getInt(0));
        assertEquals('J', b[0]);
        assertEquals(1, b[4], "op READ");
        KvWire.Request r = KvWire.readRequest(in(bytes));
        assertEquals(KvWire.Op.READ, r.op());
        assertEquals("eng", r.engineId());
        assertEquals("req-1", r.requestId());
        assertEquals(33, r.promptTokens());
        assertArrayEquals(new int[] {7, 2, 9}, r.blockIds());
        // 4 magic + 1 op + (2+3) + (2+5) + 4 tokens + 4 count + 3×4 ids
        assertEquals(37, b.length);
    }

    @Test
    void releaseRoundTrips() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        KvWire.writeRequest(new DataOutputStream(bytes), KvWire.Request.release("e", "r"));
        KvWire.Request r = KvWire.readRequest(in(bytes));
        assertEquals(KvWire.Op.RELEASE, r.op());
        assertEquals("r", r.requestId());
    }

    @Test
    void blocksRoundTripBitForBitAsFloat32LittleEndian() throws IOException {
        KvBlocks sent = blocks(3);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        KvWire.writeBlocks(new DataOutputStream(bytes), sent);
        byte[] b = bytes.toByteArray();
        long floats = LAYOUT.blockFloats(3);
        assertEquals(5 + 5 * 4 + 2 * 2 * floats * 4, b.length);
        // The first K float of layer 0 right after the header.
        assertEquals(0.25f, ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getFloat(25));
        KvBlocks got = KvWire.readBlocks(in(bytes), LAYOUT, 3);
        for (int l = 0; l < 2; l++) {
            assertArrayEquals(sent.keys()[l], got.keys()[l]);
            assertArrayEquals(sent.values()[l], got.values()[l]);
        }
    }

    @Test
    void anErrorReplyIsARemoteErrorWithItsStatusAndMessage() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        KvWire.writeError(new DataOutputStream(bytes), ChannelStatus.NOT_FOUND, "no KV blocks held for x");
        KvWire.RemoteError e = assertThrows(KvWire.RemoteError.class, () -> KvWire.readBlocks(in(bytes), LAYOUT, 1));
        assertEquals(ChannelStatus.NOT_FOUND, e.status());
        assertEquals("no KV blocks held for x", e.getMessage());
    }

    @Test
    void aForeignLayoutOrBlockCountIsRefused() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        KvWire.writeBlocks(new DataOutputStream(bytes), blocks(2));
        KvTransferException layout = assertThrows(
                KvTransferException.class, () -> KvWire.readBlocks(in(bytes), new KvLayout(2, 2, 4, 16), 2));
        assertTrue(layout.getMessage().contains("layout"), layout.getMessage());
        assertThrows(KvTransferException.class, () -> KvWire.readBlocks(in(bytes), LAYOUT, 3));
    }

    @Test
    void garbageAndTruncationAreExceptionsNotAllocations() throws IOException {
        byte[] junk = "GET / HTTP/1.1\r\n\r\n".getBytes();
        assertThrows(
                KvTransferException.class,
                () -> KvWire.readRequest(new DataInputStream(new ByteArrayInputStream(junk))));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        KvWire.writeBlocks(new DataOutputStream(bytes), blocks(2));
        byte[] cut = Arrays.copyOf(bytes.toByteArray(), bytes.size() - 3);
        assertThrows(
                IOException.class,
                () -> KvWire.readBlocks(new DataInputStream(new ByteArrayInputStream(cut)), LAYOUT, 2));
        // A request claiming 2^31-1 blocks is refused before any array is made.
        ByteBuffer huge = ByteBuffer.allocate(4 + 1 + 2 + 2 + 4 + 4).order(ByteOrder.LITTLE_ENDIAN);
        huge.putInt(KvWire.MAGIC)
                .put((byte) 1)
                .putShort((short) 0)
                .putShort((short) 0)
                .putInt(1)
                .putInt(Integer.MAX_VALUE);
        assertThrows(
                KvTransferException.class,
                () -> KvWire.readRequest(new DataInputStream(new ByteArrayInputStream(huge.array()))));
    }

    /** A source that serves fixed blocks for one request id. */
    static final class FixedSource implements KvBlockSource {
        boolean released;

        @Override
        public KvLayout layout() {
            return LAYOUT;
        }

        @Override
        public KvBlocks read(String requestId, int[] blockIds, int promptTokens) {
            if (!requestId.equals("r1")) {
                throw new KvTransferException("no KV blocks held for request " + requestId);
            }
            return blocks(blockIds.length);
        }

        @Override
        public boolean release(String requestId) {
            released = requestId.equals("r1");
            return released;
        }
    }

    @Test
    void serverAndClientOverLoopback() throws IOException {
        FixedSource source = new FixedSource();
        try (JepdKvServer server = new JepdKvServer(source, "eng-1", "127.0.0.1", 0, Duration.ofSeconds(5))) {
            JepdKvClient client = new JepdKvClient(Duration.ofSeconds(2), Duration.ofSeconds(5));
            KvTransferParams ok = KvTransferParams.held("eng-1", new int[] {4, 5}, "r1", "127.0.0.1", server.port());
            KvBlocks got = client.pull(ok, 6, LAYOUT);
            assertArrayEquals(blocks(2).keys()[1], got.keys()[1]);
            client.confirm(ok);
            assertTrue(source.released);

            KvTransferParams unknown =
                    KvTransferParams.held("eng-1", new int[] {4, 5}, "r2", "127.0.0.1", server.port());
            KvTransferException e = assertThrows(KvTransferException.class, () -> client.pull(unknown, 6, LAYOUT));
            assertTrue(e.getMessage().contains("no KV blocks held for request r2"), e.getMessage());
            KvTransferParams otherEngine =
                    KvTransferParams.held("eng-0", new int[] {4, 5}, "r1", "127.0.0.1", server.port());
            e = assertThrows(KvTransferException.class, () -> client.pull(otherEngine, 6, LAYOUT));
            assertTrue(e.getMessage().contains("not eng-0"), e.getMessage());
            // The block count must fit the prompt before anything is sent.
            assertThrows(KvTransferException.class, () -> client.pull(ok, 40, LAYOUT));
        }
    }

    @Test
    void stageRequestAndReplyRoundTrip() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        KvWire.writeRequest(new DataOutputStream(bytes), KvWire.Request.stage("eng", "req-1", 9, new int[] {3, 1}));
        assertEquals(3, bytes.toByteArray()[4], "op STAGE");
        KvWire.Request r = KvWire.readRequest(in(bytes));
        assertEquals(KvWire.Op.STAGE, r.op());
        assertEquals(9, r.promptTokens());
        assertArrayEquals(new int[] {3, 1}, r.blockIds());

        long size = KvWire.Staged.bytesFor(LAYOUT, 2);
        assertEquals(2L * 2 * (2 * 4 * 2 * 4) * 4, size, "K and V of 2 layers, 2 blocks of 4 tokens × 2 heads × 4");
        byte[] md = {1, 2, 3, 0, 5};
        bytes = new ByteArrayOutputStream();
        KvWire.writeStaged(
                new DataOutputStream(bytes), new KvWire.Staged(LAYOUT, 2, "agent-p", md, 0x7f00_1234_5000L, size));
        KvWire.Staged got = KvWire.readStaged(in(bytes), LAYOUT, 2);
        assertEquals("agent-p", got.agent());
        assertArrayEquals(md, got.metadata());
        assertEquals(0x7f00_1234_5000L, got.address());
        assertEquals(size, got.bytes());

        // A size that does not match the blocks is refused, as is a foreign layout.
        bytes = new ByteArrayOutputStream();
        KvWire.writeStaged(new DataOutputStream(bytes), new KvWire.Staged(LAYOUT, 2, "a", md, 64, size - 4));
        ByteArrayOutputStream wrongSize = bytes;
        assertThrows(KvTransferException.class, () -> KvWire.readStaged(in(wrongSize), LAYOUT, 2));
        bytes = new ByteArrayOutputStream();
        KvWire.writeStaged(new DataOutputStream(bytes), new KvWire.Staged(LAYOUT, 2, "a", md, 64, size));
        ByteArrayOutputStream other = bytes;
        assertThrows(KvTransferException.class, () -> KvWire.readStaged(in(other), new KvLayout(2, 2, 4, 8), 2));
    }

    @Test
    void aSideChannelWithoutNixlAnswersStageNotSupportedAndStillServesReads() throws IOException {
        FixedSource source = new FixedSource();
        try (JepdKvServer server = new JepdKvServer(source, "eng-1", "127.0.0.1", 0, Duration.ofSeconds(5))) {
            JepdKvClient client = new JepdKvClient(Duration.ofSeconds(2), Duration.ofSeconds(5));
            KvTransferParams ok = KvTransferParams.held("eng-1", new int[] {4, 5}, "r1", "127.0.0.1", server.port());
            KvWire.RemoteError e = assertThrows(KvWire.RemoteError.class, () -> client.stage(ok, 6, LAYOUT));
            assertEquals(ChannelStatus.NOT_SUPPORTED, e.status());
            assertTrue(e.getMessage().contains("no NIXL agent"), e.getMessage());
            assertArrayEquals(blocks(2).values()[0], client.pull(ok, 6, LAYOUT).values()[0]);
        }
    }

    @Test
    void aStagerAnswersStageAndItsErrorsKeepTheirStatus() throws IOException {
        FixedSource source = new FixedSource();
        KvStager stager = (id, ids, tokens) -> {
            source.read(id, ids, tokens); // the lease check, as the NIXL stager does
            return new KvWire.Staged(
                    LAYOUT, ids.length, "agent-p", new byte[] {9}, 4096, KvWire.Staged.bytesFor(LAYOUT, ids.length));
        };
        try (JepdKvServer server = new JepdKvServer(source, stager, "eng-1", "127.0.0.1", 0, Duration.ofSeconds(5))) {
            JepdKvClient client = new JepdKvClient(Duration.ofSeconds(2), Duration.ofSeconds(5));
            KvTransferParams ok = KvTransferParams.held("eng-1", new int[] {4, 5}, "r1", "127.0.0.1", server.port());
            KvWire.Staged s = client.stage(ok, 6, LAYOUT);
            assertEquals("agent-p", s.agent());
            assertEquals(4096, s.address());
            KvTransferParams unknown =
                    KvTransferParams.held("eng-1", new int[] {4, 5}, "r2", "127.0.0.1", server.port());
            KvTransferException e = assertThrows(KvTransferException.class, () -> client.stage(unknown, 6, LAYOUT));
            assertTrue(e.getMessage().contains("no KV blocks held for request r2"), e.getMessage());
        }
    }

    @Test
    void aDeadPeerIsAnExceptionNotAHang() throws IOException {
        int port;
        try (var s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        JepdKvClient client = new JepdKvClient(Duration.ofSeconds(2), Duration.ofSeconds(2));
        KvTransferParams gone = KvTransferParams.held("e", new int[] {1}, "r", "127.0.0.1", port);
        KvTransferException e = assertThrows(KvTransferException.class, () -> client.pull(gone, 3, LAYOUT));
        assertTrue(e.getMessage().contains("unreachable"), e.getMessage());
    }

    @Test
    void aSilentPeerTimesOut() throws IOException {
        try (var silent = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            JepdKvClient client = new JepdKvClient(Duration.ofSeconds(2), Duration.ofMillis(300));
            KvTransferParams p = KvTransferParams.held("e", new int[] {1}, "r", "127.0.0.1", silent.getLocalPort());
            KvTransferException e = assertThrows(KvTransferException.class, () -> client.pull(p, 3, LAYOUT));
            assertTrue(e.getMessage().contains("timed out"), e.getMessage());
        }
    }
}
