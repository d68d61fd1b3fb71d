package dev.jepd.transfer.nixl;

import dev.jepd.ffi.NativeMemory;
import dev.jepd.ffi.nixl.NixlAgent;
import dev.jepd.ffi.nixl.NixlException;
import dev.jepd.ffi.nixl.NixlLibrary;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The consuming end of a NIXL transfer, for any payload: a one-sided NIXL read of a peer's {@link NixlExport} into
 * a receive area registered once at start (a pull that does not fit registers a buffer of its own), decoded while
 * the bytes are still in the area, then a notification back so the exporter can free its copy. Every read is
 * bounded by the timeout. Thread-safe.
 */
public final class NixlPuller implements AutoCloseable {
    private final NixlAgent agent;
    private final RegisteredArea receive;
    private final List<NixlAgent.Registration> extra = new ArrayList<>();
    /** Reads that went through the receive area or a buffer of their own (copied out by the decoder). */
    private final AtomicLong bufferedReads = new AtomicLong();
    /** Reads straight into memory registered by the owner ({@link #readInto}). */
    private final AtomicLong directReads = new AtomicLong();

    private final Duration timeout;
    /** The metadata loaded for each peer agent. */
    private final Map<String, byte[]> loadedMetadata = new ConcurrentHashMap<>();

    /**
     * @param receiveBytes the receive area: pulls that fit read into it without registering memory
     * @param timeout the longest one read may take
     */
    public NixlPuller(NixlLibrary lib, String agentName, List<String> backends, long receiveBytes, Duration timeout) {
        this(lib, agentName, backends, receiveBytes, List.of(), timeout);
    }

    /**
     * As above, also registering {@code alsoRegister} (memory the owner has peers write into by
     * {@link #readInto}, such as its KV cache) once, at start; the caller keeps it alive until this is closed.
     */
    public NixlPuller(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            long receiveBytes,
            List<MemorySegment> alsoRegister,
            Duration timeout) {
        this.agent = NixlAgent.create(lib, agentName, backends);
        RegisteredArea area = null;
        try {
            area = new RegisteredArea(agent, receiveBytes);
            for (MemorySegment m : alsoRegister) {
                extra.add(agent.registerDram(m));
            }
        } catch (RuntimeException e) {
            extra.forEach(NixlAgent.Registration::close);
            if (area != null) {
                area.close();
            }
            agent.close();
            throw e;
        }
        this.receive = area;
        this.timeout = timeout;
    }

    public String agentName() {
        return agent.name();
    }

    /**
     * Reads {@code remote}'s bytes and returns what {@code decode} makes of them; the segment it is given (exactly
     * {@code remote.bytes()} bytes) is valid only during the call.
     *
     * @throws NixlTransferException when the peer's metadata cannot be loaded, or the read fails or times out
     */
    public <T> T pull(NixlExport remote, Function<MemorySegment, T> decode) {
        String peer = loadPeer(remote.agent(), remote.metadata());
        bufferedReads.incrementAndGet();
        var offset = receive.allocate(remote.bytes());
        try {
            if (offset.isPresent()) {
                MemorySegment into = receive.slice(offset.getAsLong(), remote.bytes());
                read(peer, remote, into);
                return decode.apply(into);
            }
            try (NativeMemory buffer = NativeMemory.allocate(remote.bytes());
                    NixlAgent.Registration reg = agent.registerDram(buffer.segment())) {
                read(peer, remote, buffer.segment());
                return decode.apply(buffer.segment());
            }
        } catch (NixlException e) {
            throw new NixlTransferException(
                    "NIXL read of " + remote.bytes() + " bytes from " + peer + " failed: " + e.getMessage(), e);
        } finally {
            if (offset.isPresent()) {
                receive.free(offset.getAsLong());
            }
        }
    }

    /**
     * One NIXL read request of many pieces from {@code remoteAgent} (whose metadata is {@code metadata}): piece {@code i}
     * copies {@code lengths[i]} bytes from its {@code remote[i]} to {@code local[i]}, which must lie in memory
     * registered here at start ({@code alsoRegister}). Adjacent pieces (contiguous on both sides) travel as one.
     * Nothing is copied by this process: the bytes land where the owner reads them.
     *
     * @throws NixlTransferException when the peer's metadata cannot be loaded, or the read fails or times out
     */
    public void readInto(String remoteAgent, byte[] metadata, long[] local, long[] remote, long[] lengths) {
        String peer = loadPeer(remoteAgent, metadata);
        int n = 0;
        long[] l = new long[local.length];
        long[] r = new long[local.length];
        long[] len = new long[local.length];
        long total = 0;
        for (int i = 0; i < local.length; i++) {
            total += lengths[i];
            if (n > 0 && l[n - 1] + len[n - 1] == local[i] && r[n - 1] + len[n - 1] == remote[i]) {
                len[n - 1] += lengths[i];
            } else {
                l[n] = local[i];
                r[n] = remote[i];
                len[n] = lengths[i];
                n++;
            }
        }
        directReads.incrementAndGet();
        try (NixlAgent.Transfer read =
                agent.read(Arrays.copyOf(l, n), Arrays.copyOf(r, n), Arrays.copyOf(len, n), peer, null)) {
            if (!read.await(timeout)) {
                throw new NixlTransferException("NIXL read of " + total + " bytes from " + peer
                        + " did not finish within " + timeout.toSeconds() + " s");
            }
        } catch (NixlException e) {
            throw new NixlTransferException(
                    "NIXL read of " + total + " bytes in " + n + " pieces from " + peer + " failed: " + e.getMessage(),
                    e);
        }
    }

    /** Reads through the receive area (or a buffer of their own), since start. */
    public long bufferedReads() {
        return bufferedReads.get();
    }

    /** Reads straight into registered memory ({@link #readInto}), since start. */
    public long directReads() {
        return directReads.get();
    }

    private void read(String peer, NixlExport remote, MemorySegment into) {
        try (NixlAgent.Transfer read = agent.read(into, peer, remote.address(), null)) {
            if (!read.await(timeout)) {
                throw new NixlTransferException("NIXL read of " + remote.bytes() + " bytes from " + peer
                        + " did not finish within " + timeout.toSeconds() + " s");
            }
        }
    }

    /**
     * Sends {@code message} to the agent that exported {@code from} (whose metadata a pull loaded): the release
     * notification once the payload is copied.
     *
     * @throws NixlException when the notification cannot be sent
     */
    public void notify(NixlExport from, byte[] message) {
        notify(from.agent(), message);
    }

    /** Sends {@code message} to {@code peer}, whose metadata a pull loaded. */
    public void notify(String peer, byte[] message) {
        agent.notify(peer, message);
    }

    /**
     * Loads the peer's metadata unless this exact metadata is already loaded: an exporter registers once, so its
     * metadata is the same on every pull and need not be parsed again.
     */
    private String loadPeer(String peer, byte[] metadata) {
        if (Arrays.equals(loadedMetadata.get(peer), metadata)) {
            return peer;
        }
        String loaded;
        try {
            loaded = agent.loadRemote(metadata);
        } catch (NixlException first) {
            // Metadata under a known name that no longer matches: that agent restarted. Forget it, load afresh.
            try {
                agent.invalidateRemote(peer);
                loaded = agent.loadRemote(metadata);
            } catch (NixlException again) {
                throw new NixlTransferException(
                        "cannot load the NIXL metadata of " + peer + ": " + first.getMessage(), first);
            }
        }
        loadedMetadata.put(loaded, metadata);
        return loaded;
    }

    @Override
    public void close() {
        try {
            extra.forEach(NixlAgent.Registration::close);
            receive.close();
        } finally {
            agent.close();
        }
    }
}
