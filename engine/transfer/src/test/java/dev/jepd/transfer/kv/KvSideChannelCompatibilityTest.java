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
}
