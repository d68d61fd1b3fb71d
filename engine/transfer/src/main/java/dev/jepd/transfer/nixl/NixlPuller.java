package dev.jepd.transfer.nixl;

import dev.jepd.ffi.NativeMemory;
import dev.jepd.ffi.nixl.NixlAgent;
import dev.jepd.ffi.nixl.NixlException;
import dev.jepd.ffi.nixl.NixlLibrary;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
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
    private final Duration timeout;
    /** The metadata loaded for each peer agent. */
    private final Map<String, byte[]> loadedMetadata = new ConcurrentHashMap<>();

    /**
     * @param receiveBytes the receive area: pulls that fit read into it without registering memory
     * @param timeout the longest one read may take
     */
    public NixlPuller(NixlLibrary lib, String agentName, List<String> backends, long receiveBytes, Duration timeout) {
        this.agent = NixlAgent.create(lib, agentName, backends);
        try {
            this.receive = new RegisteredArea(agent, receiveBytes);
        } catch (RuntimeException e) {
            agent.close();
            throw e;
        }
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
        String peer = loadPeer(remote);
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
        agent.notify(from.agent(), message);
    }

    /**
     * Loads the peer's metadata unless this exact metadata is already loaded: an exporter registers once, so its
     * metadata is the same on every pull and need not be parsed again.
     */
    private String loadPeer(NixlExport remote) {
        String peer = remote.agent();
        if (Arrays.equals(loadedMetadata.get(peer), remote.metadata())) {
            return peer;
        }
        String loaded;
        try {
            loaded = agent.loadRemote(remote.metadata());
        } catch (NixlException first) {
            // Metadata under a known name that no longer matches: that agent restarted. Forget it, load afresh.
            try {
                agent.invalidateRemote(peer);
                loaded = agent.loadRemote(remote.metadata());
            } catch (NixlException again) {
                throw new NixlTransferException(
                        "cannot load the NIXL metadata of " + peer + ": " + first.getMessage(), first);
            }
        }
        loadedMetadata.put(loaded, remote.metadata());
        return loaded;
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
