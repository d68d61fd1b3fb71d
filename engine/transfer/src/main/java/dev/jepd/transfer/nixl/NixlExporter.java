package dev.jepd.transfer.nixl;

import dev.jepd.engine.connector.LeaseRegistry;
import dev.jepd.ffi.nixl.NixlAgent;
import dev.jepd.ffi.nixl.NixlLibrary;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The producing end of a NIXL transfer, for any payload. It owns a NIXL agent and one area registered with it at
 * start (so its metadata never changes and a peer loads it once), copies a payload into a range of the area under
 * an id ({@link #export}) and answers where it is; the range is freed when the puller's notification
 * {@code <releasePrefix><id>} arrives, when {@link #release} is called (a release over the side channel), or when
 * its lease runs out, whichever comes first.
 */
public final class NixlExporter implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NixlExporter.class);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

    private final NixlAgent agent;
    private final RegisteredArea area;
    private final List<NixlAgent.Registration> extra = new ArrayList<>();
    private final byte[] metadata;
    private final long leaseNanos;
    private final String releasePrefix;
    private final Consumer<String> onNotifiedRelease;
    private final LeaseRegistry<Long> exported = new LeaseRegistry<>(); // id -> offset in the area
    private final Thread poller;
    private volatile boolean open = true;

    /**
     * @param areaBytes the registered area; the most that can be exported at once
     * @param lease how long an export waits for its puller's notification before it is freed anyway
     * @param releasePrefix what a release notification starts with; the id follows it
     * @param onNotifiedRelease told the id of every release notification, after its range is freed (the caller
     *     frees what it held for the payload besides the copy); null for nothing
     */
    public NixlExporter(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            long areaBytes,
            Duration lease,
            String releasePrefix,
            Consumer<String> onNotifiedRelease) {
        this(lib, agentName, backends, areaBytes, List.of(), lease, releasePrefix, onNotifiedRelease);
    }

    /**
     * As above, also registering {@code alsoRegister} (memory the owner lets peers read in place, such as a KV
     * cache) with the agent at start, so it is in the metadata every peer loads; the caller keeps it alive until
     * this exporter is closed.
     */
    public NixlExporter(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            long areaBytes,
            List<MemorySegment> alsoRegister,
            Duration lease,
            String releasePrefix,
            Consumer<String> onNotifiedRelease) {
        this.leaseNanos = lease.toNanos();
        this.releasePrefix = releasePrefix;
        this.onNotifiedRelease = onNotifiedRelease == null ? id -> {} : onNotifiedRelease;
        this.agent = NixlAgent.create(lib, agentName, backends);
        RegisteredArea registered = null;
        try {
            registered = new RegisteredArea(agent, areaBytes);
            for (MemorySegment m : alsoRegister) {
                extra.add(agent.registerDram(m));
            }
            this.metadata = agent.localMetadata(); // after the registration, which it describes
        } catch (RuntimeException e) {
            extra.forEach(NixlAgent.Registration::close);
            if (registered != null) {
                registered.close();
            }
            agent.close();
            throw e;
        }
        this.area = registered;
        this.poller = Thread.ofPlatform()
                .name("jepd-nixl-exporter-" + agentName)
                .daemon()
                .start(this::poll);
    }

    public String agentName() {
        return agent.name();
    }

    /** This agent's metadata (taken once, after every registration): what a peer loads to read from it. */
    public byte[] metadata() {
        return metadata;
    }

    /** What a puller sends, once it has its copy, to free the export under {@code id}. */
    public static byte[] releaseMessage(String releasePrefix, String id) {
        return (releasePrefix + id).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Copies {@code payload} into the area under {@code id}, replacing an earlier export under that id (a retried
     * handshake).
     *
     * @throws NixlTransferException when the area has no room
     */
    public NixlExport export(String id, byte[] payload) {
        return export(
                id,
                payload.length,
                range -> MemorySegment.copy(MemorySegment.ofArray(payload), 0, range, 0, payload.length));
    }

    /**
     * Reserves {@code bytes} bytes of the area under {@code id}, has {@code fill} write the payload into them,
     * and answers where they are; replaces an earlier export under that id.
     *
     * @param fill writes exactly the payload into the range it is given ({@code bytes} bytes)
     * @throws NixlTransferException when the area has no room
     */
    public NixlExport export(String id, long bytes, Consumer<MemorySegment> fill) {
        long offset;
        synchronized (this) {
            Long previous = exported.release(id);
            if (previous != null) {
                area.free(previous);
            }
            offset = area.allocate(bytes)
                    .orElseThrow(() -> new NixlTransferException("the NIXL area of " + agent.name() + " ("
                            + (area.capacity() >> 20) + " MiB, " + (area.usedBytes() >> 20) + " MiB in use) has no"
                            + " room for " + bytes + " bytes"));
            exported.hold(id, offset, System.nanoTime() + leaseNanos);
        }
        fill.accept(area.slice(offset, bytes));
        return new NixlExport(agent.name(), metadata, area.address(offset), bytes);
    }

    /** Frees the export under {@code id}; false when there was none (never, already released, or expired). */
    public synchronized boolean release(String id) {
        Long offset = exported.release(id);
        if (offset == null) {
            return false;
        }
        area.free(offset);
        return true;
    }

    /** Frees the exports whose lease ran out by {@code now}; returns how many. */
    synchronized int expire(long now) {
        List<Long> ended = exported.expire(now);
        ended.forEach(area::free);
        return ended.size();
    }

    /** Bytes of the area in use by exports. */
    public long exportedBytes() {
        return area.usedBytes();
    }

    /** Exports held now. */
    public int exports() {
        return exported.size();
    }

    private void poll() {
        while (open) {
            try {
                for (NixlAgent.Notification n : agent.takeNotifications()) {
                    String text = n.text();
                    if (text.startsWith(releasePrefix)) {
                        String id = text.substring(releasePrefix.length());
                        if (!release(id)) {
                            LOG.debug("NIXL release from {} for {}: nothing exported", n.fromAgent(), id);
                        }
                        onNotifiedRelease.accept(id);
                    } else {
                        LOG.warn("unexpected NIXL notification from {}: {}", n.fromAgent(), text);
                    }
                }
                expire(System.nanoTime());
            } catch (RuntimeException e) {
                if (open) {
                    LOG.warn("NIXL notification poll failed: {}", e.toString());
                }
            }
            LockSupport.parkNanos(POLL_NANOS);
        }
    }

    @Override
    public void close() {
        open = false;
        poller.interrupt();
        try {
            poller.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            extra.forEach(NixlAgent.Registration::close);
            area.close();
        } finally {
            agent.close();
        }
    }
}
