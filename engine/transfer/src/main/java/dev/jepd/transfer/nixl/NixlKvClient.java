package dev.jepd.transfer.nixl;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.ffi.NativeMemory;
import dev.jepd.ffi.nixl.NixlAgent;
import dev.jepd.ffi.nixl.NixlException;
import dev.jepd.ffi.nixl.NixlLibrary;
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
 * The decode node's NIXL transport: STAGE over the side channel (the handshake, which also carries the prefill
 * agent's metadata), a one-sided NIXL read of the staged blocks into a receive buffer registered once at start
 * (a pull that does not fit registers a buffer of its own), and the confirmation as a NIXL notification. A
 * prefill node without NIXL answers the handshake NOT_SUPPORTED, and the pull goes over the side channel
 * instead, so mixed clusters work.
 */
public final class NixlKvClient implements KvTransport, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NixlKvClient.class);

    private final NixlAgent agent;
    private final RegisteredArea receive;
    private final JepdKvClient sideChannel;
    private final Duration timeout;
    /** Pulls read with NIXL, by prefill engine and request, until confirmed: the agent to notify. */
    private final Map<String, String> pulledFrom = new ConcurrentHashMap<>();
    /** The metadata loaded for each prefill agent. */
    private final Map<String, byte[]> loadedMetadata = new ConcurrentHashMap<>();

    private final AtomicLong nixlPulls = new AtomicLong();
    private final AtomicLong tcpPulls = new AtomicLong();

    public NixlKvClient(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            long receiveBytes,
            JepdKvClient sideChannel,
            Duration timeout) {
        this.agent = NixlAgent.create(lib, agentName, backends);
        try {
            this.receive = new RegisteredArea(agent, receiveBytes);
        } catch (RuntimeException e) {
            agent.close();
            throw e;
        }
        this.sideChannel = sideChannel;
        this.timeout = timeout;
    }

    @Override
    public KvBlocks pull(KvTransferParams remote, int promptTokens, KvLayout expected) {
        KvWire.Staged staged;
        try {
            staged = sideChannel.stage(remote, promptTokens, expected);
        } catch (KvWire.RemoteError e) {
            if (e.status() != KvWire.Status.NOT_SUPPORTED) {
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
        String peer = loadPeer(staged);
        var offset = receive.allocate(staged.bytes());
        try {
            KvBlocks blocks = offset.isPresent()
                    ? read(peer, staged, receive.slice(offset.getAsLong(), staged.bytes()), expected)
                    : readIntoOwnBuffer(peer, staged, expected);
            pulledFrom.put(key(remote), peer);
            nixlPulls.incrementAndGet();
            return blocks;
        } catch (NixlException e) {
            throw new KvTransferException(
                    "NIXL read from prefill node " + remote.remoteHost() + ":" + remote.remotePort() + " failed: "
                            + e.getMessage(),
                    e);
        } finally {
            if (offset.isPresent()) {
                receive.free(offset.getAsLong());
            }
        }
    }

    private KvBlocks readIntoOwnBuffer(String peer, KvWire.Staged staged, KvLayout expected) {
        try (NativeMemory buffer = NativeMemory.allocate(staged.bytes());
                NixlAgent.Registration reg = agent.registerDram(buffer.segment())) {
            return read(peer, staged, buffer.segment(), expected);
        }
    }

    /** Reads the staged bytes into {@code into} (registered memory) and decodes them. */
    private KvBlocks read(String peer, KvWire.Staged staged, MemorySegment into, KvLayout expected) {
        try (NixlAgent.Transfer read = agent.read(into, peer, staged.address(), null)) {
            if (!read.await(timeout)) {
                throw new KvTransferException("NIXL read of " + staged.bytes() + " bytes from " + peer + " did not"
                        + " finish within " + timeout.toSeconds() + " s");
            }
        }
        return decode(into, expected, staged.numBlocks());
    }

    @Override
    public void confirm(KvTransferParams remote) {
        String peer = pulledFrom.remove(key(remote));
        if (peer == null) {
            sideChannel.confirm(remote); // pulled over the side channel
            return;
        }
        try {
            agent.notify(peer, NixlKvProducer.releaseMessage(remote.remoteRequestId()));
        } catch (NixlException e) {
            LOG.warn(
                    "NIXL release notification to {} failed ({}); releasing over the side channel",
                    peer,
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

    /**
     * Loads the prefill agent's metadata unless this exact metadata is already loaded: a prefill agent registers
     * once, so its metadata is the same on every pull and need not be parsed again.
     */
    private String loadPeer(KvWire.Staged staged) {
        String peer = staged.agent();
        if (Arrays.equals(loadedMetadata.get(peer), staged.metadata())) {
            return peer;
        }
        String loaded;
        try {
            loaded = agent.loadRemote(staged.metadata());
        } catch (NixlException first) {
            // Metadata under a known name that no longer matches: that agent restarted. Forget it, load afresh.
            try {
                agent.invalidateRemote(peer);
            } catch (NixlException ignored) {
                throw new KvTransferException(
                        "cannot load the NIXL metadata of " + peer + ": " + first.getMessage(), first);
            }
            loaded = agent.loadRemote(staged.metadata());
        }
        loadedMetadata.put(loaded, staged.metadata());
        return loaded;
    }

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
        try {
            receive.close();
        } finally {
            agent.close();
        }
    }
}
