package dev.jepd.transfer.kv;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;

/**
 * The decode node's end of JEPD's side channel. Every call is bounded: the connect by {@code connectTimeout},
 * every read by {@code readTimeout}, so a dead or stuck prefill node is an exception, never a hang.
 */
public final class JepdKvClient implements KvTransport {
    private final int connectMillis;
    private final int readMillis;

    public JepdKvClient(Duration connectTimeout, Duration readTimeout) {
        this.connectMillis = (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis());
        this.readMillis = (int) Math.min(Integer.MAX_VALUE, readTimeout.toMillis());
    }

    @Override
    public KvBlocks pull(KvTransferParams remote, int promptTokens, KvLayout expected) {
        int[] ids = checkedBlockIds(remote, promptTokens, expected);
        return call(
                remote,
                KvWire.Request.read(remote.remoteEngineId(), remote.remoteRequestId(), promptTokens, ids),
                in -> KvWire.readBlocks(in, expected, ids.length));
    }

    /**
     * The NIXL handshake: asks the prefill node to stage the blocks for a NIXL read.
     *
     * @throws KvWire.RemoteError with {@link KvWire.Status#NOT_SUPPORTED} when the prefill node has no NIXL
     */
    public KvWire.Staged stage(KvTransferParams remote, int promptTokens, KvLayout expected) {
        int[] ids = checkedBlockIds(remote, promptTokens, expected);
        return call(
                remote,
                KvWire.Request.stage(remote.remoteEngineId(), remote.remoteRequestId(), promptTokens, ids),
                in -> KvWire.readStaged(in, expected, ids.length));
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
        call(remote, KvWire.Request.release(remote.remoteEngineId(), remote.remoteRequestId()), in -> {
            KvWire.readOk(in);
            return null;
        });
    }

    private interface Reader<T> {
        T read(DataInputStream in) throws IOException;
    }

    private <T> T call(KvTransferParams remote, KvWire.Request request, Reader<T> reader) {
        String where = remote.remoteHost() + ":" + remote.remotePort();
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(remote.remoteHost(), remote.remotePort()), connectMillis);
            s.setSoTimeout(readMillis);
            s.setTcpNoDelay(true);
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream()));
            KvWire.writeRequest(out, request);
            return reader.read(new DataInputStream(new BufferedInputStream(s.getInputStream(), 1 << 16)));
        } catch (KvWire.RemoteError e) {
            if (e.status() == KvWire.Status.NOT_SUPPORTED) {
                throw e; // the caller picks another way
            }
            throw new KvTransferException(
                    "prefill node " + where + " refused " + request.op() + " of " + request.requestId() + ": "
                            + e.getMessage(),
                    e);
        } catch (SocketTimeoutException e) {
            throw new KvTransferException("prefill node " + where + " timed out (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw new KvTransferException("prefill node " + where + " unreachable: " + e, e);
        }
    }
}
