package dev.jepd.transfer.nixl;

import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.ffi.nixl.NixlAgent;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.transfer.kv.KvStager;
import dev.jepd.transfer.kv.KvWire;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The prefill node's NIXL agent. It registers one staging buffer at start (so its metadata never changes), copies
 * a held request's blocks into it when a decode node asks (STAGE on the side channel), and frees both the staged
 * copy and the held blocks when the decode node's notification {@code jepd-kv-release:<request id>} arrives, when
 * a RELEASE comes over the side channel, or when the lease runs out.
 *
 * <p>Why a staging copy and not the cache itself, as vLLM registers: the DJL backend does not expose the cache
 * tensors' addresses. A backend that does can register the cache and drop the copy behind the same protocol.
 */
public final class NixlKvProducer implements KvBlockSource, KvStager, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NixlKvProducer.class);
    static final String RELEASE_PREFIX = "jepd-kv-release:";
    static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

    private record Range(long offset, long deadline) {}

    private final KvBlockSource source;
    private final NixlAgent agent;
    private final RegisteredArea staging;
    private final byte[] metadata;
    private final long leaseNanos;
    private final Map<String, Range> staged = new HashMap<>();
    private final Thread poller;
    private volatile boolean open = true;

    public NixlKvProducer(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            KvBlockSource source,
            long stagingBytes,
            Duration lease) {
        this.source = source;
        this.leaseNanos = lease.toNanos();
        this.agent = NixlAgent.create(lib, agentName, backends);
        RegisteredArea area = null;
        try {
            area = new RegisteredArea(agent, stagingBytes);
            this.metadata = agent.localMetadata(); // after the registration, which it describes
        } catch (RuntimeException e) {
            if (area != null) {
                area.close();
            }
            agent.close();
            throw e;
        }
        this.staging = area;
        this.poller =
                Thread.ofPlatform().name("jepd-nixl-notifications").daemon().start(this::poll);
    }

    public String agentName() {
        return agent.name();
    }

    @Override
    public KvLayout layout() {
        return source.layout();
    }

    @Override
    public KvBlocks read(String requestId, int[] blockIds, int promptTokens) {
        return source.read(requestId, blockIds, promptTokens);
    }

    @Override
    public KvWire.Staged stage(String requestId, int[] blockIds, int promptTokens) {
        KvBlocks blocks = source.read(requestId, blockIds, promptTokens); // checks the lease
        long bytes = KvWire.Staged.bytesFor(blocks.layout(), blocks.numBlocks());
        long offset;
        synchronized (this) {
            Range previous = staged.remove(requestId); // a retried handshake: stage afresh
            if (previous != null) {
                staging.free(previous.offset);
            }
            offset = staging.allocate(bytes)
                    .orElseThrow(() -> new KvTransferException("the NIXL staging buffer ("
                            + (staging.capacity() >> 20) + " MiB, " + (staging.usedBytes() >> 20)
                            + " MiB in use) has no room for " + bytes
                            + " bytes; raise kv_connector_extra_config.nixl_staging_mib on the prefill node"));
            staged.put(requestId, new Range(offset, System.nanoTime() + leaseNanos));
        }
        MemorySegment dst = staging.slice(offset, bytes);
        long pos = 0;
        for (int l = 0; l < blocks.layout().layers(); l++) {
            for (float[] rows : new float[][] {blocks.keys()[l], blocks.values()[l]}) {
                MemorySegment.copy(rows, 0, dst, LE_FLOAT, pos, rows.length);
                pos += (long) rows.length * Float.BYTES;
            }
        }
        return new KvWire.Staged(
                blocks.layout(), blocks.numBlocks(), agent.name(), metadata, staging.address(offset), bytes);
    }

    @Override
    public boolean release(String requestId) {
        unstage(requestId);
        return source.release(requestId);
    }

    private synchronized void unstage(String requestId) {
        Range r = staged.remove(requestId);
        if (r != null) {
            staging.free(r.offset);
        }
    }

    /** Bytes of staging in use (for tests). */
    public long stagedBytes() {
        return staging.usedBytes();
    }

    private void poll() {
        while (open) {
            try {
                for (NixlAgent.Notification n : agent.takeNotifications()) {
                    String text = n.text();
                    if (text.startsWith(RELEASE_PREFIX)) {
                        String id = text.substring(RELEASE_PREFIX.length());
                        if (!release(id)) {
                            LOG.debug("NIXL release from {} for {}: nothing held", n.fromAgent(), id);
                        }
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

    /** Frees staged copies whose lease ran out; the engine expires the held blocks themselves. */
    synchronized void expire(long now) {
        for (Iterator<Map.Entry<String, Range>> it = staged.entrySet().iterator(); it.hasNext(); ) {
            Range r = it.next().getValue();
            if (r.deadline - now <= 0) {
                it.remove();
                staging.free(r.offset);
            }
        }
    }

    static byte[] releaseMessage(String requestId) {
        return (RELEASE_PREFIX + requestId).getBytes(StandardCharsets.UTF_8);
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
            staging.close();
        } finally {
            agent.close();
        }
    }
}
