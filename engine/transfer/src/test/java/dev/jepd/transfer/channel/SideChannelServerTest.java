package dev.jepd.transfer.channel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * The side channel over real sockets with payloads that are not KV: dispatch by op, and every way a request can
 * go wrong answered with an error frame or a bounded exception.
 */
class SideChannelServerTest {
    private static final int MAGIC = 0x54534554; // "TEST"
    private static final int ECHO = 7;
    private static final int FAIL = 8;
    private static final int REFUSE = 9;
    private static final int SLOW = 10;
    private static final Duration SHORT = Duration.ofMillis(300);

    private static final CountDownLatch NEVER = new CountDownLatch(1);

    /** Echo: a length-prefixed byte string back, reversed, so the reply is not the request. */
    private static final ChannelHandler ECHO_HANDLER = in -> {
        int n = Frames.readInt(in);
        byte[] b = new byte[n];
        in.readFully(b);
        return out -> {
            Frames.writeInt(out, n);
            for (int i = n - 1; i >= 0; i--) {
                out.writeByte(b[i]);
            }
        };
    };

    private static SideChannelServer server(Duration timeout) throws IOException {
        return new SideChannelServer(
                "test-channel",
                MAGIC,
                Map.of(
                        ECHO, ECHO_HANDLER,
                        FAIL,
                                in -> {
                                    throw new IllegalStateException("handler blew up");
                                },
                        REFUSE,
                                in -> {
                                    throw new ChannelException(ChannelStatus.NOT_FOUND, "nothing under that id");
                                },
                        SLOW,
                                in -> {
                                    try {
                                        NEVER.await();
                                    } catch (InterruptedException e) {
                                        Thread.currentThread().interrupt();
                                    }
                                    return ChannelHandler.Reply.EMPTY;
                                }),
                "127.0.0.1",
                0,
                timeout);
    }

    private static byte[] echo(SideChannelClient client, int port, int op, byte[] payload) {
        return client.call(
                "127.0.0.1",
                port,
                MAGIC,
                op,
                out -> {
                    Frames.writeInt(out, payload.length);
                    out.write(payload);
                },
                in -> {
                    byte[] b = new byte[Frames.readInt(in)];
                    in.readFully(b);
                    return b;
                });
    }

    @Test
    void aRegisteredOpGetsItsHandlersReply() throws IOException {
        try (SideChannelServer s = server(Duration.ofSeconds(5))) {
            SideChannelClient client = new SideChannelClient(Duration.ofSeconds(2), Duration.ofSeconds(5));
            byte[] payload = "any payload \u00e9".getBytes(StandardCharsets.UTF_8);
            byte[] reversed = new byte[payload.length];
            for (int i = 0; i < payload.length; i++) {
                reversed[i] = payload[payload.length - 1 - i];
            }
            assertArrayEquals(reversed, echo(client, s.port(), ECHO, payload));
            assertArrayEquals(new byte[0], echo(client, s.port(), ECHO, new byte[0]));
        }
    }

    @Test
    void anUnknownOpIsARejectedErrorFrameNamingTheOpsServed() throws IOException {
        try (SideChannelServer s = server(Duration.ofSeconds(5))) {
            SideChannelClient client = new SideChannelClient(Duration.ofSeconds(2), Duration.ofSeconds(5));
            ChannelException e = assertThrows(ChannelException.class, () -> echo(client, s.port(), 42, new byte[] {1}));
            assertEquals(ChannelStatus.REJECTED, e.status());
            assertTrue(e.getMessage().contains("unknown side-channel op 42"), e.getMessage());
            assertTrue(e.getMessage().contains("[7, 8, 9, 10]"), e.getMessage());
        }
    }

    @Test
    void theErrorFrameIsMagicStatusAndMessageOnTheWire() throws IOException {
        try (SideChannelServer s = server(Duration.ofSeconds(5));
                Socket raw = new Socket(InetAddress.getLoopbackAddress(), s.port())) {
            raw.setSoTimeout(5000);
            ByteBuffer req = ByteBuffer.allocate(5).order(ByteOrder.LITTLE_ENDIAN);
            req.putInt(MAGIC).put((byte) 200);
            raw.getOutputStream().write(req.array());
            raw.getOutputStream().flush();
            byte[] reply = raw.getInputStream().readAllBytes();
            ByteBuffer le = ByteBuffer.wrap(reply).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(MAGIC, le.getInt());
            assertEquals(ChannelStatus.REJECTED.code(), le.get());
            int len = le.getShort() & 0xFFFF;
            assertEquals(reply.length, 4 + 1 + 2 + len, "the frame ends with its message");
            String message = new String(reply, 7, len, StandardCharsets.UTF_8);
            assertTrue(message.startsWith("unknown side-channel op 200"), message);
        }
    }

    @Test
    void aHandlerExceptionIsAnInternalErrorFrameAndARefusalKeepsItsStatus() throws IOException {
        try (SideChannelServer s = server(Duration.ofSeconds(5))) {
            SideChannelClient client = new SideChannelClient(Duration.ofSeconds(2), Duration.ofSeconds(5));
            ChannelException failed =
                    assertThrows(ChannelException.class, () -> echo(client, s.port(), FAIL, new byte[0]));
            assertEquals(ChannelStatus.INTERNAL, failed.status());
            assertTrue(failed.getMessage().contains("handler blew up"), failed.getMessage());

            ChannelException refused =
                    assertThrows(ChannelException.class, () -> echo(client, s.port(), REFUSE, new byte[0]));
            assertEquals(ChannelStatus.NOT_FOUND, refused.status());
            assertEquals("nothing under that id", refused.getMessage());

            // The server is still serving after both.
            assertArrayEquals(new byte[] {2, 1}, echo(client, s.port(), ECHO, new byte[] {1, 2}));
        }
    }

    @Test
    void aWrongMagicIsRejected() throws IOException {
        try (SideChannelServer s = server(Duration.ofSeconds(5))) {
            SideChannelClient client = new SideChannelClient(Duration.ofSeconds(2), Duration.ofSeconds(5));
            // The server answers with its own magic, which this client does not expect either.
            ChannelException e = assertThrows(
                    ChannelException.class,
                    () -> client.call("127.0.0.1", s.port(), 0x0BADF00D, ECHO, out -> {}, in -> null));
            assertEquals(ChannelStatus.REJECTED, e.status());
            assertTrue(e.getMessage().contains("not a JEPD side-channel frame"), e.getMessage());
        }
    }

    @Test
    void aStuckHandlerIsAClientTimeoutWithinTheReadTimeout() throws IOException {
        try (SideChannelServer s = server(Duration.ofSeconds(30))) {
            SideChannelClient client = new SideChannelClient(Duration.ofSeconds(2), SHORT);
            long t0 = System.nanoTime();
            ChannelIoException e =
                    assertThrows(ChannelIoException.class, () -> echo(client, s.port(), SLOW, new byte[0]));
            long millis = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(e.timedOut(), e.getMessage());
            assertTrue(e.getMessage().contains("timed out"), e.getMessage());
            assertTrue(millis < 5_000, "gave up after " + millis + " ms, read timeout 300 ms");
        }
    }

    @Test
    void aPeerThatAcceptsButNeverAnswersIsATimeoutNotAHang() throws IOException {
        try (ServerSocket mute = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            SideChannelClient client = new SideChannelClient(Duration.ofSeconds(2), SHORT);
            ChannelIoException e = assertThrows(
                    ChannelIoException.class, () -> echo(client, mute.getLocalPort(), ECHO, new byte[] {1}));
            assertTrue(e.timedOut(), e.getMessage());
        }
    }

    @Test
    void aClosedPortIsUnreachableNotATimeout() throws IOException {
        int port;
        try (ServerSocket gone = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = gone.getLocalPort();
        }
        SideChannelClient client = new SideChannelClient(Duration.ofSeconds(2), SHORT);
        ChannelIoException e = assertThrows(ChannelIoException.class, () -> echo(client, port, ECHO, new byte[] {1}));
        assertTrue(!e.timedOut() && e.getMessage().contains("unreachable"), e.getMessage());
    }

    @Test
    void aSilentConnectionIsDroppedAfterTheServerTimeout() throws IOException {
        try (SideChannelServer s = server(SHORT);
                Socket raw = new Socket(InetAddress.getLoopbackAddress(), s.port())) {
            raw.setSoTimeout(10_000);
            long t0 = System.nanoTime();
            InputStream in = raw.getInputStream();
            int first = in.read(); // the server closes without a frame
            long millis = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(-1, first);
            assertTrue(millis < 5_000, "dropped after " + millis + " ms, timeout 300 ms");
        }
    }

    @Test
    void opsOutsideAByteAreRefusedAtRegistration() {
        assertThrows(
                IllegalArgumentException.class,
                () -> new SideChannelServer("x", MAGIC, Map.of(256, ECHO_HANDLER), "127.0.0.1", 0, SHORT));
    }
}
