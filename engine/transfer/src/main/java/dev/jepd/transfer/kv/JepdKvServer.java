package dev.jepd.transfer.kv;

import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.transfer.channel.ChannelException;
import dev.jepd.transfer.channel.ChannelHandler;
import dev.jepd.transfer.channel.ChannelStatus;
import dev.jepd.transfer.channel.SideChannelServer;
import java.io.DataInputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.function.Function;

/**
 * The prefill node's side channel: a {@link SideChannelServer} with one handler per {@link KvWire} op — READ from
 * the {@link KvBlockSource}, RELEASE to it, STAGE to the {@link KvStager} (or {@link ChannelStatus#NOT_SUPPORTED}
 * without one). One request per connection, each on its own virtual thread; a connection that sends nothing
 * within the timeout is dropped.
 */
public final class JepdKvServer implements AutoCloseable {
    private final KvBlockSource source;
    private final KvStager stager;
    private final String engineId;
    private final SideChannelServer server;

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
        this.server = new SideChannelServer(
                "jepd-kv-side-channel",
                KvWire.MAGIC,
                Map.of(
                        KvWire.Op.READ.code, handler(KvWire.Op.READ, this::read),
                        KvWire.Op.RELEASE.code, handler(KvWire.Op.RELEASE, this::release),
                        KvWire.Op.STAGE.code, handler(KvWire.Op.STAGE, this::stage),
                        KvWire.Op.STAGE_DIRECT.code, handler(KvWire.Op.STAGE_DIRECT, this::stageDirect)),
                host,
                port,
                timeout);
    }

    public int port() {
        return server.port();
    }

    private ChannelHandler.Reply read(KvWire.Request r) {
        KvBlocks blocks = source.read(r.requestId(), r.blockIds(), r.promptTokens());
        return out -> KvWire.writeBlocksBody(out, blocks);
    }

    private ChannelHandler.Reply release(KvWire.Request r) {
        if (!source.release(r.requestId())) {
            throw new ChannelException(ChannelStatus.NOT_FOUND, "no KV blocks held for " + r.requestId());
        }
        return ChannelHandler.Reply.EMPTY;
    }

    private ChannelHandler.Reply stage(KvWire.Request r) {
        if (stager == null) {
            throw new ChannelException(
                    ChannelStatus.NOT_SUPPORTED,
                    "prefill node " + engineId + " has no NIXL agent (kv_transport tcp, or libnixl_capi absent"
                            + " there)");
        }
        KvWire.Staged staged = stager.stage(r.requestId(), r.blockIds(), r.promptTokens());
        return out -> KvWire.writeStagedBody(out, staged);
    }

    private ChannelHandler.Reply stageDirect(KvWire.Request r) {
        if (stager == null) {
            throw new ChannelException(ChannelStatus.NOT_SUPPORTED, "prefill node " + engineId + " has no NIXL agent");
        }
        KvWire.Direct direct = stager.stageDirect(r.requestId(), r.blockIds(), r.promptTokens());
        return out -> KvWire.writeDirectBody(out, direct);
    }

    /**
     * The handler of {@code op}: parses the request, refuses another engine's, and maps the KV errors onto the
     * channel's statuses (a refusal keeps its status, any other transfer error is REJECTED).
     */
    private ChannelHandler handler(KvWire.Op op, Function<KvWire.Request, ChannelHandler.Reply> work) {
        return (DataInputStream body) -> {
            try {
                KvWire.Request r = KvWire.readRequestBody(op, body);
                if (!engineId.equals(r.engineId())) {
                    throw new ChannelException(
                            ChannelStatus.NOT_FOUND,
                            "this is engine " + engineId + ", not " + r.engineId() + " (the prefill node restarted?)");
                }
                return work.apply(r);
            } catch (KvWire.RemoteError e) {
                throw new ChannelException(e.status(), e.getMessage());
            } catch (KvTransferException e) {
                throw new ChannelException(ChannelStatus.REJECTED, e.getMessage());
            }
        };
    }

    @Override
    public void close() {
        server.close();
    }
}
