package dev.jepd.transfer.kv;

import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvTransferException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The prefill node's side channel: answers {@link KvWire} reads and releases from decode nodes, one request per
 * connection, each on its own virtual thread. A connection that sends nothing within the timeout is dropped.
 */
public final class JepdKvServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(JepdKvServer.class);

    private final KvBlockSource source;
    private final KvStager stager;
    private final String engineId;
    private final ServerSocket socket;
    private final int timeoutMillis;
    private final ExecutorService connections = Executors.newVirtualThreadPerTaskExecutor();
    private final Thread acceptor;
    private volatile boolean open = true;

    /** Binds {@code host:port} (port 0 picks a free one) and starts accepting; STAGE is not supported. */
    public JepdKvServer(KvBlockSource source, String engineId, String host, int port, Duration timeout)
            throws IOException {
        this(source, null, engineId, host, port, timeout);
    }

    /** As above, with {@code stager} (null: none) answering the NIXL handshake, STAGE. */
    public JepdKvServer(KvBlockSource source, KvStager stager, String engineId, String host, int port, Duration timeout)
            throws IOException {
        this.source = source;
        this.stager = stager;
        this.engineId = engineId;
        this.timeoutMillis = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
        this.socket = new ServerSocket();
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress(InetAddress.getByName(host), port), 64);
        this.acceptor =
                Thread.ofPlatform().name("jepd-kv-side-channel").daemon().start(this::accept);
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
                    LOG.warn("KV side channel accept failed: {}", e.toString());
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
            KvWire.Request r;
            try {
                r = KvWire.readRequest(in);
            } catch (KvTransferException e) {
                KvWire.writeError(out, KvWire.Status.REJECTED, e.getMessage());
                return;
            }
            if (!engineId.equals(r.engineId())) {
                KvWire.writeError(
                        out,
                        KvWire.Status.NOT_FOUND,
                        "this is engine " + engineId + ", not " + r.engineId() + " (the prefill node restarted?)");
                return;
            }
            switch (r.op()) {
                case READ ->
                    answer(out, r, () -> {
                        KvBlocks blocks = source.read(r.requestId(), r.blockIds(), r.promptTokens());
                        return () -> KvWire.writeBlocks(out, blocks);
                    });
                case STAGE -> {
                    if (stager == null) {
                        KvWire.writeError(
                                out,
                                KvWire.Status.NOT_SUPPORTED,
                                "prefill node " + engineId + " has no NIXL agent (kv_transport tcp, or libnixl_capi"
                                        + " absent there)");
                        return;
                    }
                    answer(out, r, () -> {
                        KvWire.Staged staged = stager.stage(r.requestId(), r.blockIds(), r.promptTokens());
                        return () -> KvWire.writeStaged(out, staged);
                    });
                }
                case RELEASE -> {
                    if (source.release(r.requestId())) {
                        KvWire.writeOk(out);
                    } else {
                        KvWire.writeError(out, KvWire.Status.NOT_FOUND, "no KV blocks held for " + r.requestId());
                    }
                }
            }
        } catch (SocketException e) {
            LOG.debug("KV side channel connection dropped: {}", e.toString());
        } catch (IOException | RuntimeException e) {
            LOG.warn("KV side channel request failed: {}", e.toString());
        }
    }

    private interface Reply {
        void write() throws IOException;
    }

    private interface Work {
        Reply run();
    }

    /** Runs {@code work} and writes its reply, or the error it raised as the right status. */
    private static void answer(DataOutputStream out, KvWire.Request r, Work work) throws IOException {
        Reply reply;
        try {
            reply = work.run();
        } catch (KvWire.RemoteError e) {
            KvWire.writeError(out, e.status(), e.getMessage());
            return;
        } catch (KvTransferException e) {
            KvWire.writeError(out, KvWire.Status.REJECTED, e.getMessage());
            return;
        } catch (RuntimeException e) {
            LOG.error("KV {} for {} failed", r.op(), r.requestId(), e);
            KvWire.writeError(out, KvWire.Status.INTERNAL, e.toString());
            return;
        }
        reply.write();
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
