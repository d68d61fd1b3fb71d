package dev.jepd.transfer.nixl;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.ffi.nixl.NixlException;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.transfer.channel.ChannelStatus;
import dev.jepd.transfer.kv.JepdKvClient;
import dev.jepd.transfer.kv.KvTransferParams;
import dev.jepd.transfer.kv.KvTransport;
import dev.jepd.transfer.kv.KvWire;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The decode node's NIXL transport: KV blocks as the payload of a {@link NixlPuller}. STAGE over the side channel
 * is the handshake (it also carries the prefill agent's metadata), the puller reads the staged blocks with one
 * NIXL read, and the confirmation is a NIXL notification. A prefill node without NIXL answers the handshake
 * NOT_SUPPORTED, and the pull goes over the side channel instead, so mixed clusters work.
 */
public final class NixlKvClient implements KvTransport, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NixlKvClient.class);

    private final NixlPuller puller;
    private final JepdKvClient sideChannel;
    /** Pulls read with NIXL, by prefill engine and request, until confirmed: the export to notify. */
    private final Map<String, NixlExport> pulledFrom = new ConcurrentHashMap<>();

    private final AtomicLong nixlPulls = new AtomicLong();
    private final AtomicLong tcpPulls = new AtomicLong();

    public NixlKvClient(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            long receiveBytes,
            JepdKvClient sideChannel,
            Duration timeout) {
        this.puller = new NixlPuller(lib, agentName, backends, receiveBytes, timeout);
        this.sideChannel = sideChannel;
    }

    @Override
    public KvBlocks pull(KvTransferParams remote, int promptTokens, KvLayout expected) {
        KvWire.Staged staged;
        try {
            staged = sideChannel.stage(remote, promptTokens, expected);
        } catch (KvWire.RemoteError e) {
            if (e.status() != ChannelStatus.NOT_SUPPORTED) {
                throw e;
            }
            if (tcpPulls.getAndIncrement() == 0) {
                LOG.info(
                        "prefill node {}:{} has no NIXL ({}); pulling over the side channel",
                        remote.remoteHost(),
                        remote.remotePort(),
                        e.getMessage());
            }
            return sideChannel.pull(remote, promptTokens, expected);
        }
        NixlExport export = new NixlExport(staged.agent(), staged.metadata(), staged.address(), staged.bytes());
        try {
            KvBlocks blocks = puller.pull(export, data -> decode(data, expected, staged.numBlocks()));
            pulledFrom.put(key(remote), export);
            nixlPulls.incrementAndGet();
            return blocks;
        } catch (NixlTransferException e) {
            throw new KvTransferException(
                    "NIXL read from prefill node " + remote.remoteHost() + ":" + remote.remotePort() + " failed: "
                            + e.getMessage(),
                    e);
        }
    }

    @Override
    public void confirm(KvTransferParams remote) {
        NixlExport export = pulledFrom.remove(key(remote));
        if (export == null) {
            sideChannel.confirm(remote); // pulled over the side channel
            return;
        }
        try {
            puller.notify(export, NixlKvProducer.releaseMessage(remote.remoteRequestId()));
        } catch (NixlException e) {
            LOG.warn(
                    "NIXL release notification to {} failed ({}); releasing over the side channel",
                    export.agent(),
                    e.getMessage());
            sideChannel.confirm(remote);
        }
    }

    /** Pulls that went through NIXL, since start. */
    public long nixlPulls() {
        return nixlPulls.get();
    }

    /** Pulls that fell back to the side channel because the prefill node has no NIXL, since start. */
    public long sideChannelPulls() {
        return tcpPulls.get();
    }

    /** The staged bytes, laid out as {@link NixlKvProducer} encodes them, as blocks. */
    private static KvBlocks decode(MemorySegment data, KvLayout layout, int numBlocks) {
        int floats = Math.toIntExact(layout.blockFloats(numBlocks));
        float[][] keys = new float[layout.layers()][];
        float[][] values = new float[layout.layers()][];
        long pos = 0;
        for (int l = 0; l < layout.layers(); l++) {
            keys[l] = new float[floats];
            MemorySegment.copy(data, NixlKvProducer.LE_FLOAT, pos, keys[l], 0, floats);
            pos += (long) floats * Float.BYTES;
            values[l] = new float[floats];
            MemorySegment.copy(data, NixlKvProducer.LE_FLOAT, pos, values[l], 0, floats);
            pos += (long) floats * Float.BYTES;
        }
        return new KvBlocks(layout, numBlocks, keys, values);
    }

    private static String key(KvTransferParams remote) {
        return remote.remoteEngineId() + "/" + remote.remoteRequestId();
    }

    @Override
    public void close() {
        puller.close();
    }
}
