package dev.jepd.transfer.channel;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers side-channel requests by op: one request per connection, each on its own virtual thread, its body
 * handed to the {@link ChannelHandler} registered for its op. Whatever goes wrong before the reply is on the wire
 * is answered with an error frame: an unknown op or a bad envelope {@link ChannelStatus#REJECTED}, a
 * {@link ChannelException} its own status, any other exception {@link ChannelStatus#INTERNAL}. A connection that
 * sends nothing within the timeout is dropped.
 */
public final class SideChannelServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SideChannelServer.class);

    private final String name;
    private final int magic;
    private final Map<Integer, ChannelHandler> handlers;
    private final ServerSocket socket;
    private final int timeoutMillis;
    private final ExecutorService connections = Executors.newVirtualThreadPerTaskExecutor();
    private final Thread acceptor;
    private volatile boolean open = true;

    /**
     * Binds {@code host:port} (port 0 picks a free one) and starts accepting.
     *
     * @param name what the logs and the acceptor thread call this channel
     * @param magic the first four bytes of every frame of this protocol
     * @param handlers by op code, each 0..255
     * @param timeout how long a connection may stay silent
     */
    public SideChannelServer(
            String name, int magic, Map<Integer, ChannelHandler> handlers, String host, int port, Duration timeout)
            throws IOException {
        for (int op : handlers.keySet()) {
            if (op < 0 || op > 255) {
                throw new IllegalArgumentException("side-channel op " + op + " outside 0..255");
            }
        }
        this.name = name;
        this.magic = magic;
        this.handlers = Map.copyOf(handlers);
        this.timeoutMillis = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
        this.socket = new ServerSocket();
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress(InetAddress.getByName(host), port), 64);
        this.acceptor = Thread.ofPlatform().name(name).daemon().start(this::accept);
    }

    public int port() {
        return socket.getLocalPort();
    }

    private void accept() {
        while (open) {
            try {
                Socket s = socket.accept();
                connections.submit(() -> serve(s));
            } catch (IOException e) {
                if (open) {
                    LOG.warn("{} accept failed: {}", name, e.toString());
                }
            }
        }
    }

    private void serve(Socket s) {
        try (s) {
            s.setSoTimeout(timeoutMillis);
            s.setTcpNoDelay(true);
            DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream()));
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream(), 1 << 16));
            ChannelHandler.Reply reply;
            int op = -1;
            try {
                op = Frames.readHeader(in, magic);
                ChannelHandler handler = handlers.get(op);
                if (handler == null) {
                    throw new ChannelException(
                            ChannelStatus.REJECTED,
                            "unknown side-channel op " + op + "; " + name + " answers ops "
                                    + new TreeMap<>(handlers).keySet());
                }
                reply = handler.handle(in);
            } catch (ChannelException e) {
                Frames.writeError(out, magic, e.status(), e.getMessage());
                lingerAfterError(s, in);
                return;
            } catch (EOFException e) {
                LOG.debug("{}: the peer closed the connection mid-request", name);
                return;
            } catch (RuntimeException e) {
                LOG.error("{} op {} failed", name, op, e);
                Frames.writeError(out, magic, ChannelStatus.INTERNAL, e.toString());
                lingerAfterError(s, in);
                return;
            }
            Frames.writeHeader(out, magic, ChannelStatus.OK.code());
            reply.write(out);
            out.flush();
        } catch (SocketException e) {
            LOG.debug("{} connection dropped: {}", name, e.toString());
        } catch (IOException | RuntimeException e) {
            LOG.warn("{} request failed: {}", name, e.toString());
        }
    }

    /**
     * After an error frame the request may be partly unread; closing a socket with unread input makes Linux send a
     * reset, which can destroy the error frame before the peer reads it. So: end our side, then read and drop what is
     * left (bounded in bytes and time) before closing.
     */
    private static void lingerAfterError(Socket s, DataInputStream in) {
        try {
            s.shutdownOutput();
            s.setSoTimeout(500);
            byte[] sink = new byte[8192];
            for (int total = 0, n; total < (64 << 10) && (n = in.read(sink)) > 0; total += n) {
                // drop
            }
        } catch (IOException e) {
            // the peer went away first: nothing left to protect
        }
    }

    @Override
    public void close() {
        open = false;
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        acceptor.interrupt();
        connections.shutdownNow();
    }
}
