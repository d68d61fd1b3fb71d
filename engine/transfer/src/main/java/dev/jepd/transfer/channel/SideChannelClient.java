package dev.jepd.transfer.channel;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;

/**
 * Sends one side-channel request and reads its reply. Every call is bounded: the connect by {@code connectTimeout},
 * every read by {@code readTimeout}, so a dead or stuck peer is an exception, never a hang. Thread-safe (no state
 * beyond the timeouts).
 */
public final class SideChannelClient {
    /** Writes a request body. */
    @FunctionalInterface
    public interface BodyWriter {
        void write(DataOutputStream out) throws IOException;
    }

    /** Reads the body of an OK reply. */
    @FunctionalInterface
    public interface BodyReader<T> {
        T read(DataInputStream in) throws IOException;
    }

    private final int connectMillis;
    private final int readMillis;

    public SideChannelClient(Duration connectTimeout, Duration readTimeout) {
        this.connectMillis = (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis());
        this.readMillis = (int) Math.min(Integer.MAX_VALUE, readTimeout.toMillis());
    }

    /**
     * Sends {@code magic op body} to {@code host:port} and reads the reply's body with {@code reply}.
     *
     * @throws ChannelException when the peer answered with an error frame (its status and message)
     * @throws ChannelIoException when the peer is unreachable, timed out or closed the connection early
     */
    public <T> T call(String host, int port, int magic, int op, BodyWriter body, BodyReader<T> reply) {
        String where = host + ":" + port;
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), connectMillis);
            s.setSoTimeout(readMillis);
            s.setTcpNoDelay(true);
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream()));
            Frames.writeHeader(out, magic, op);
            body.write(out);
            out.flush();
            DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream(), 1 << 16));
            Frames.readReplyHeader(in, magic);
            return reply.read(in);
        } catch (SocketTimeoutException e) {
            throw new ChannelIoException(
                    "peer " + where + " timed out (" + e.getMessage() + "; connect " + connectMillis + " ms, read "
                            + readMillis + " ms)",
                    true,
                    e);
        } catch (EOFException e) {
            throw new ChannelIoException("peer " + where + " closed the side channel mid-reply", false, e);
        } catch (IOException e) {
            throw new ChannelIoException("peer " + where + " unreachable: " + e, false, e);
        }
    }
}
