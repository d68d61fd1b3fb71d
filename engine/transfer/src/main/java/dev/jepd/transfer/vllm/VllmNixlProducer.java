package dev.jepd.transfer.vllm;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.ffi.NativeMemory;
import dev.jepd.ffi.nixl.NixlAgent;
import dev.jepd.ffi.nixl.NixlLibrary;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A JEPD prefill node as vLLM's NixlConnector prefill worker (tp rank 0 of 1): a NIXL agent with a registered
 * area shaped as vLLM's KV cache (per layer a K and a V region of {@code numBlocks} HND bf16 blocks), the
 * handshake payload that describes it, and the leases of the blocks a vLLM decode node is to read.
 *
 * <p>JEPD's cache is NHD in the backend's dtype and cut into JEPD's block size, so a vLLM decode node cannot read
 * it in place: {@link #hold} copies a finished prompt into free blocks of this area in vLLM's layout (a
 * layout-converted mirror) and answers their ids, which go out as {@code remote_block_ids}. The blocks are freed
 * when the decode node's notification {@code "<request id>:<its tp size>"} has come from each of its workers, or
 * when the lease runs out (vLLM's {@code VLLM_NIXL_ABORT_REQUEST_TIMEOUT}, 480 s by default).
 *
 * <p>On vLLM's wire version 12 ({@link VllmWireVersion#V12}) the handshake payload carries version 12's
 * {@code NixlAgentMetadata}, the lease is vLLM's short {@code kv_lease_duration} (30 s by default), and each
 * {@code "HB:<id>,<id>"} notification from a decode worker whose requests still wait moves their deadline to at
 * least now + the heartbeat extension ({@code kv_lease_duration * 2 // 3}), as vLLM's prefill worker does.
 * Heartbeats are honoured on either version (a version 2 peer sends none).
 */
public final class VllmNixlProducer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VllmNixlProducer.class);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

    private final KvLayout layout;
    private final int blockSize;
    private final int numBlocks;
    private final long blockBytes;
    private final long regionBytes;
    private final long leaseNanos;
    private final long extensionNanos;
    private final VllmWireVersion wire;
    private final NixlAgent agent;
    private final NativeMemory area;
    private final NixlAgent.Registration registration;
    private final VllmNixlWire.AgentMetadata metadata;
    private final byte[] payload;
    private final Consumer<String> onRelease;
    private final Deque<Integer> free = new ArrayDeque<>();
    private final Map<String, Held> held = new HashMap<>();
    private final AtomicLong released = new AtomicLong();
    private final AtomicLong expired = new AtomicLong();
    private final AtomicLong renewed = new AtomicLong();
    private final Thread poller;
    private volatile boolean open = true;

    private static final class Held {
        final int[] blocks;
        long deadline;
        int notifications;

        Held(int[] blocks, long deadline) {
            this.blocks = blocks;
            this.deadline = deadline;
        }
    }

    /**
     * @param engineId vLLM's {@code remote_engine_id}, checked by the decode worker against the metadata's
     * @param layout the prefill engine's KV layout (layers, KV heads, head size)
     * @param blockSize vLLM's block size (the decode node's {@code --block-size}, 16 by default)
     * @param numBlocks blocks per region: the most a node holds for vLLM decode nodes at once
     * @param compatibilityHash what the handshake carries (see {@link VllmCompatHash})
     * @param onRelease told the request id of each request whose blocks were freed by a notification
     */
    public VllmNixlProducer(
            NixlLibrary lib,
            String engineId,
            List<String> backends,
            KvLayout layout,
            int blockSize,
            int numBlocks,
            String compatibilityHash,
            Duration lease,
            Consumer<String> onRelease) {
        this(
                lib,
                engineId,
                backends,
                layout,
                blockSize,
                numBlocks,
                compatibilityHash,
                lease,
                onRelease,
                VllmWireVersion.V2,
                "FLASH_ATTN",
                lease.multipliedBy(2).dividedBy(3));
    }

    /**
     * @param wire which vLLM wire the handshake payload is for
     * @param attnBackendName version 12's {@code attn_backend_name} (the decode node's backend, e.g. FLASH_ATTN)
     * @param heartbeatExtension how far a heartbeat moves a held request's deadline from now
     */
    public VllmNixlProducer(
            NixlLibrary lib,
            String engineId,
            List<String> backends,
            KvLayout layout,
            int blockSize,
            int numBlocks,
            String compatibilityHash,
            Duration lease,
            Consumer<String> onRelease,
            VllmWireVersion wire,
            String attnBackendName,
            Duration heartbeatExtension) {
        if (blockSize < 1 || numBlocks < 1) {
            throw new IllegalArgumentException("vLLM KV area of " + numBlocks + " blocks of " + blockSize);
        }
        this.layout = layout;
        this.blockSize = blockSize;
        this.numBlocks = numBlocks;
        this.blockBytes = HndBlocks.blockBytes(layout, blockSize);
        this.regionBytes = blockBytes * numBlocks;
        this.leaseNanos = lease.toNanos();
        this.extensionNanos = heartbeatExtension.toNanos();
        this.wire = wire;
        this.onRelease = onRelease == null ? id -> {} : onRelease;
        for (int b = 0; b < numBlocks; b++) {
            free.add(b);
        }
        // vLLM names its agents with a uuid; any unique name does.
        this.agent = NixlAgent.create(lib, "jepd-vllm-prefill-" + engineId, backends);
        NativeMemory mem = null;
        NixlAgent.Registration reg = null;
        try {
            mem = NativeMemory.allocate(Math.multiplyExact(regionBytes, 2L * layout.layers()));
            mem.segment().fill((byte) 0);
            reg = agent.registerDram(mem.segment());
            long[] bases = new long[2 * layout.layers()];
            long[] lens = new long[bases.length];
            for (int r = 0; r < bases.length; r++) {
                bases[r] = mem.address() + r * regionBytes; // per layer K then V, as vLLM lists its regions
                lens[r] = blockBytes;
            }
            this.metadata = new VllmNixlWire.AgentMetadata(
                    engineId, agent.localMetadata(), bases, 0, numBlocks, lens, VllmNixlWire.HND, blockSize);
        } catch (RuntimeException e) {
            if (reg != null) {
                reg.close();
            }
            if (mem != null) {
                mem.close();
            }
            agent.close();
            throw e;
        }
        this.area = mem;
        this.registration = reg;
        byte[] agentMetadataBytes = wire == VllmWireVersion.V12
                ? VllmNixlWire.AgentMetadataV12.of(metadata, attnBackendName).encode()
                : metadata.encode();
        this.payload = new VllmNixlWire.HandshakePayload(compatibilityHash, agentMetadataBytes).encode();
        this.poller =
                Thread.ofPlatform().name("jepd-vllm-nixl-" + engineId).daemon().start(this::poll);
    }

    public VllmWireVersion wire() {
        return wire;
    }

    /** The encoded {@code NixlHandshakePayload} of tp rank 0, what the side channel answers. */
    public byte[] handshakePayload() {
        return payload.clone();
    }

    public VllmNixlWire.AgentMetadata metadata() {
        return metadata;
    }

    public String agentName() {
        return agent.name();
    }

    /**
     * Copies the first {@code promptTokens} positions of {@code blocks} into free blocks of the area in vLLM's
     * layout and holds them for {@code requestId} (replacing an earlier hold under that id); returns their ids.
     *
     * @throws KvTransferException when the area has too few free blocks
     */
    public int[] hold(String requestId, KvBlocks blocks, int promptTokens) {
        if (!blocks.layout().equals(layout)) {
            throw new IllegalArgumentException("blocks of " + blocks.layout() + ", the area is for " + layout);
        }
        if (promptTokens < 1 || promptTokens > blocks.tokens()) {
            throw new IllegalArgumentException(promptTokens + " prompt tokens in blocks of " + blocks.tokens());
        }
        int n = HndBlocks.blocksFor(promptTokens, blockSize);
        int[] ids = new int[n];
        synchronized (this) {
            Held previous = held.remove(requestId);
            if (previous != null) {
                freeBlocks(previous.blocks);
            }
            if (free.size() < n) {
                throw new KvTransferException("the vLLM NIXL KV area has " + free.size() + " free blocks of "
                        + numBlocks + ", request " + requestId + " needs " + n
                        + "; raise kv_connector_extra_config.nixl_staging_mib");
            }
            for (int i = 0; i < n; i++) {
                ids[i] = free.poll();
            }
        }
        for (int l = 0; l < layout.layers(); l++) {
            for (int kv = 0; kv < 2; kv++) {
                int region = 2 * l + kv;
                for (int j = 0; j < n; j++) {
                    HndBlocks.writeBlock(blocks, promptTokens, l, kv == 1, j, blockSize, block(region, ids[j]));
                }
            }
        }
        synchronized (this) {
            held.put(requestId, new Held(ids, System.nanoTime() + leaseNanos));
        }
        return ids.clone();
    }

    /** Block {@code id} of region {@code region} (per layer K then V). */
    public MemorySegment block(int region, int id) {
        return area.segment().asSlice(region * regionBytes + id * blockBytes, blockBytes);
    }

    /** Frees {@code requestId}'s blocks; false when none are held. */
    public synchronized boolean release(String requestId) {
        Held h = held.remove(requestId);
        if (h == null) {
            return false;
        }
        freeBlocks(h.blocks);
        return true;
    }

    /** Requests whose blocks are held now. */
    public synchronized int heldRequests() {
        return held.size();
    }

    public synchronized int freeBlocks() {
        return free.size();
    }

    public int numBlocks() {
        return numBlocks;
    }

    /** Holds freed by decode nodes' notifications, since start. */
    public long released() {
        return released.get();
    }

    /** Held requests whose lease a decode node's heartbeat renewed, counted per request and heartbeat, since start. */
    public long renewed() {
        return renewed.get();
    }

    /** Holds freed by their lease running out, since start. */
    public long expired() {
        return expired.get();
    }

    private void freeBlocks(int[] ids) {
        for (int id : ids) {
            free.add(id);
        }
    }

    /**
     * One notification: vLLM's decode worker sends {@code "<request id>:<its tp size>"} once its read is done. With
     * a decode tp size {@code n} above this node's 1, each of the {@code n} workers reads its share of the heads
     * and notifies; the blocks are freed at the last one.
     */
    synchronized boolean notified(VllmNixlWire.Release r) {
        Held h = held.get(r.requestId());
        if (h == null) {
            return false;
        }
        h.notifications++;
        if (h.notifications < r.consumers()) {
            return true;
        }
        held.remove(r.requestId());
        freeBlocks(h.blocks);
        released.incrementAndGet();
        return true;
    }

    /**
     * A heartbeat for {@code requestIds}: each one held gets the deadline {@code max(deadline, now + extension)}, as
     * vLLM's {@code _handle_heartbeat}; ids not held (read, expired, or another node's) are ignored.
     */
    synchronized int renew(List<String> requestIds, long now) {
        int n = 0;
        for (String id : requestIds) {
            Held h = held.get(id);
            if (h != null) {
                long extended = now + extensionNanos;
                if (extended - h.deadline > 0) {
                    h.deadline = extended;
                }
                n++;
            }
        }
        renewed.addAndGet(n);
        return n;
    }

    synchronized int expire(long now) {
        int n = 0;
        for (Iterator<Map.Entry<String, Held>> it = held.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Held> e = it.next();
            if (e.getValue().deadline - now <= 0) {
                it.remove();
                freeBlocks(e.getValue().blocks);
                LOG.warn("releasing the KV blocks of {}: no vLLM decode node read them within the lease", e.getKey());
                n++;
            }
        }
        expired.addAndGet(n);
        return n;
    }

    private void poll() {
        while (open) {
            try {
                for (NixlAgent.Notification n : agent.takeNotifications()) {
                    List<String> heartbeat = VllmNixlWire.parseHeartbeat(n.message());
                    if (heartbeat != null) {
                        renew(heartbeat, System.nanoTime());
                        continue;
                    }
                    VllmNixlWire.Release r = VllmNixlWire.Release.parse(n.message());
                    if (r == null) {
                        LOG.warn("unexpected NIXL notification from {}: {}", n.fromAgent(), n.text());
                    } else if (!notified(r)) {
                        // As vLLM: the blocks may have expired before this decode node read them.
                        LOG.error(
                                "a vLLM decode node ({}) read the KV blocks of {}, which are not held (expired?)",
                                n.fromAgent(),
                                r.requestId());
                    } else if (!isHeld(r.requestId())) {
                        onRelease.accept(r.requestId());
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

    private synchronized boolean isHeld(String requestId) {
        return held.containsKey(requestId);
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
            registration.close();
            area.close();
        } finally {
            agent.close();
        }
    }
}
