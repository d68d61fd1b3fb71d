package dev.jepd.transfer.nixl;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvRegions;
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
import java.util.Arrays;
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
 *
 * <p>Given its own cache's registrable memory ({@code localCache}, registered with the agent once at start),
 * {@link #pullInto} reads every block of the prompt from the prefill node's registered cache straight into the
 * blocks the engine allocated, in one NIXL read request of many descriptors (STAGE_DIRECT is its handshake): no
 * staging copy there, no copy out here. Where that cannot be (the prefill node's cache is not registered or it is
 * older than STAGE_DIRECT, or the two caches differ in dtype) it falls back to the staged read, decided per pull
 * at the handshake and remembered per prefill engine.
 */
public final class NixlKvClient implements KvTransport, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NixlKvClient.class);

    private final NixlPuller puller;
    private final JepdKvClient sideChannel;
    /** Pulls read with NIXL, by prefill engine and request, until confirmed: the agent to notify. */
    private final Map<String, String> pulledFrom = new ConcurrentHashMap<>();

    private final KvRegions localCache; // null: not registered, every pull is staged
    /** Prefill engines that cannot be read in place (answered NOT_SUPPORTED, or a cache of another dtype). */
    private final Map<String, String> noDirect = new ConcurrentHashMap<>();

    private final AtomicLong nixlPulls = new AtomicLong();
    private final AtomicLong directPulls = new AtomicLong();
    private final AtomicLong tcpPulls = new AtomicLong();

    public NixlKvClient(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            long receiveBytes,
            JepdKvClient sideChannel,
            Duration timeout) {
        this(lib, agentName, backends, receiveBytes, null, sideChannel, timeout);
    }

    /**
     * @param localCache this node's KV cache memory, registered once here so pulls can land in it (null: none,
     *     every NIXL pull goes through the receive buffer)
     */
    public NixlKvClient(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            long receiveBytes,
            KvRegions localCache,
            JepdKvClient sideChannel,
            Duration timeout) {
        this.localCache = localCache;
        this.puller = new NixlPuller(
                lib,
                agentName,
                backends,
                receiveBytes,
                localCache == null ? List.of() : Arrays.asList(localCache.all()),
                timeout);
        this.sideChannel = sideChannel;
    }

    @Override
    public boolean pullsInPlace() {
        return localCache != null;
    }

    @Override
    public KvBlocks pullInto(
            KvTransferParams remote, int promptTokens, KvLayout expected, KvRegions local, int[] blockIds) {
        if (localCache == null || local != localCache || noDirect.containsKey(remote.remoteEngineId())) {
            return pull(remote, promptTokens, expected);
        }
        KvWire.Direct direct;
        try {
            direct = sideChannel.stageDirect(remote, promptTokens, expected);
        } catch (KvWire.RemoteError e) {
            if (e.status() != ChannelStatus.NOT_SUPPORTED) {
                throw e;
            }
            noDirect(remote, e.getMessage());
            return pull(remote, promptTokens, expected);
        }
        if (!direct.dtype().equals(local.dtype().name()) || direct.blockBytes() != local.blockBytes()) {
            noDirect(
                    remote,
                    "its KV cache holds " + direct.dtype() + " (" + direct.blockBytes()
                            + " bytes a block), this node's " + local.dtype() + " (" + local.blockBytes() + ")");
            return pull(remote, promptTokens, expected);
        }
        int[] remoteIds = remote.remoteBlockIds();
        if (blockIds.length != remoteIds.length) {
            throw new KvTransferException(
                    "the prefill node holds " + remoteIds.length + " blocks, this node allocated " + blockIds.length);
        }
        int regions = 2 * expected.layers();
        int n = regions * blockIds.length;
        long[] to = new long[n];
        long[] from = new long[n];
        long[] lengths = new long[n];
        int i = 0;
        for (int r = 0; r < regions; r++) {
            for (int b = 0; b < blockIds.length; b++) {
                to[i] = local.blockAddress(r, blockIds[b]);
                from[i] = direct.blockAddress(r, remoteIds[b]);
                lengths[i] = local.blockBytes();
                i++;
            }
        }
        try {
            puller.readInto(direct.agent(), direct.metadata(), to, from, lengths);
        } catch (NixlTransferException e) {
            throw new KvTransferException(
                    "NIXL read from prefill node " + remote.remoteHost() + ":" + remote.remotePort() + " failed: "
                            + e.getMessage(),
                    e);
        }
        pulledFrom.put(key(remote), direct.agent());
        nixlPulls.incrementAndGet();
        directPulls.incrementAndGet();
        return null;
    }

    private void noDirect(KvTransferParams remote, String why) {
        if (noDirect.put(remote.remoteEngineId(), why) == null) {
            LOG.info(
                    "prefill node {}:{} cannot be read in place ({}); pulling through its NIXL staging buffer",
                    remote.remoteHost(),
                    remote.remotePort(),
                    why);
        }
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
            pulledFrom.put(key(remote), export.agent());
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
        String agent = pulledFrom.remove(key(remote));
        if (agent == null) {
            sideChannel.confirm(remote); // pulled over the side channel
            return;
        }
        try {
            puller.notify(agent, NixlKvProducer.releaseMessage(remote.remoteRequestId()));
        } catch (NixlException e) {
            LOG.warn(
                    "NIXL release notification to {} failed ({}); releasing over the side channel",
                    agent,
                    e.getMessage());
            sideChannel.confirm(remote);
        }
    }

    /** Pulls that went through NIXL, since start. */
    public long nixlPulls() {
        return nixlPulls.get();
    }

    /** NIXL pulls that read the prefill node's cache straight into this node's, since start. */
    public long directPulls() {
        return directPulls.get();
    }

    /** NIXL reads that went through the receive buffer (staged pulls), since start. */
    public long bufferedReads() {
        return puller.bufferedReads();
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
