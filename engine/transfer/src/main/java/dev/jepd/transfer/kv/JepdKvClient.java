package dev.jepd.transfer.kv;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.transfer.channel.ChannelException;
import dev.jepd.transfer.channel.ChannelIoException;
import dev.jepd.transfer.channel.ChannelStatus;
import dev.jepd.transfer.channel.SideChannelClient;
import java.time.Duration;

/**
 * The decode node's end of JEPD's side channel: {@link KvWire} requests over a {@link SideChannelClient}. Every
 * call is bounded: the connect by {@code connectTimeout}, every read by {@code readTimeout}, so a dead or stuck
 * prefill node is an exception, never a hang.
 */
public final class JepdKvClient implements KvTransport {
    private final SideChannelClient channel;

    public JepdKvClient(Duration connectTimeout, Duration readTimeout) {
        this.channel = new SideChannelClient(connectTimeout, readTimeout);
    }

    @Override
    public KvBlocks pull(KvTransferParams remote, int promptTokens, KvLayout expected) {
        int[] ids = checkedBlockIds(remote, promptTokens, expected);
        return call(
                remote,
                KvWire.Request.read(remote.remoteEngineId(), remote.remoteRequestId(), promptTokens, ids),
                in -> KvWire.readBlocksBody(in, expected, ids.length));
    }

    /**
     * The NIXL handshake: asks the prefill node to stage the blocks for a NIXL read.
     *
     * @throws KvWire.RemoteError with {@link ChannelStatus#NOT_SUPPORTED} when the prefill node has no NIXL
     */
    public KvWire.Staged stage(KvTransferParams remote, int promptTokens, KvLayout expected) {
        int[] ids = checkedBlockIds(remote, promptTokens, expected);
        return call(
                remote,
                KvWire.Request.stage(remote.remoteEngineId(), remote.remoteRequestId(), promptTokens, ids),
                in -> KvWire.readStagedBody(in, expected, ids.length));
    }

    /**
     * The direct NIXL handshake: asks where the prefill node's cache itself is registered.
     *
     * @throws KvWire.RemoteError with {@link ChannelStatus#NOT_SUPPORTED} when the prefill node cannot be read in
     *     place (no NIXL, its cache not registered, or a node older than the op)
     */
    public KvWire.Direct stageDirect(KvTransferParams remote, int promptTokens, KvLayout expected) {
        int[] ids = checkedBlockIds(remote, promptTokens, expected);
        try {
            return call(
                    remote,
                    KvWire.Request.stageDirect(remote.remoteEngineId(), remote.remoteRequestId(), promptTokens, ids),
                    in -> KvWire.readDirectBody(in, expected, ids.length));
        } catch (KvTransferException e) {
            if (e.getCause() instanceof KvWire.RemoteError r
                    && r.status() == ChannelStatus.REJECTED
                    && r.getMessage().contains("unknown side-channel op")) {
                throw new KvWire.RemoteError(ChannelStatus.NOT_SUPPORTED, r.getMessage()); // a node before op 4
            }
            throw e;
        }
    }

    /** The block ids in {@code remote}, if they are as many as a prompt of {@code promptTokens} needs. */
    private static int[] checkedBlockIds(KvTransferParams remote, int promptTokens, KvLayout expected) {
        int[] ids = remote.remoteBlockIds();
        int needed = (promptTokens + expected.blockSize() - 1) / expected.blockSize();
        if (ids.length != needed) {
            throw new KvTransferException("the prefill node holds " + ids.length + " blocks, a prompt of "
                    + promptTokens + " tokens needs " + needed + " (different prompt or --block-size?)");
        }
        return ids;
    }

    @Override
    public void confirm(KvTransferParams remote) {
        call(remote, KvWire.Request.release(remote.remoteEngineId(), remote.remoteRequestId()), in -> null);
    }

    private <T> T call(KvTransferParams remote, KvWire.Request request, SideChannelClient.BodyReader<T> reader) {
        String where = remote.remoteHost() + ":" + remote.remotePort();
        try {
            return channel.call(
                    remote.remoteHost(),
                    remote.remotePort(),
                    KvWire.MAGIC,
                    request.op().code,
                    out -> KvWire.writeRequestBody(out, request),
                    reader);
        } catch (ChannelException e) {
            ChannelStatus status = e.status();
            if (status == ChannelStatus.NOT_SUPPORTED) {
                throw new KvWire.RemoteError(status, e.getMessage()); // the caller picks another way
            }
            throw new KvTransferException(
                    "prefill node " + where + " refused " + request.op() + " of " + request.requestId() + ": "
                            + e.getMessage(),
                    new KvWire.RemoteError(status, e.getMessage()));
        } catch (ChannelIoException e) {
            throw new KvTransferException("KV side channel to the prefill node: " + e.getMessage(), e);
        }
    }
}
