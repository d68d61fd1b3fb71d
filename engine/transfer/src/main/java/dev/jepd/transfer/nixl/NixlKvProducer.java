package dev.jepd.transfer.nixl;

import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvRegions;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.transfer.channel.ChannelStatus;
import dev.jepd.transfer.kv.KvStager;
import dev.jepd.transfer.kv.KvWire;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The prefill node's NIXL transport: KV blocks as the payload of a {@link NixlExporter}. When a decode node asks
 * (STAGE on the side channel) it exports a held request's blocks under the request id, in the READ body's order
 * and encoding, and frees both the exported copy and the held blocks when the decode node's notification
 * {@code jepd-kv-release:<request id>} arrives or a RELEASE comes over the side channel; the copy alone when its
 * lease runs out (the engine expires the held blocks themselves).
 *
 * <p>Where the engine's cache has registrable memory ({@link KvBlockSource#regions}: the libtorch backend's host
 * tensors), the agent registers the cache itself once at start, and STAGE_DIRECT answers where each held block
 * lies in it, copying nothing: the decode node reads the blocks in place, as vLLM's NIXL connector does. STAGE
 * (the staging copy, f32 rows) stays for decode nodes whose cache differs in dtype, or that cannot register theirs.
 */
public final class NixlKvProducer implements KvBlockSource, KvStager, AutoCloseable {
    /** The release notification's prefix; on the wire between JEPD nodes, so never change it. */
    static final String RELEASE_PREFIX = "jepd-kv-release:";

    static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final KvBlockSource source;
    private final NixlExporter exporter;
    private final Optional<KvRegions> regions;
    private final AtomicLong stagedCopies = new AtomicLong();
    private final AtomicLong directStages = new AtomicLong();

    public NixlKvProducer(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            KvBlockSource source,
            long stagingBytes,
            Duration lease) {
        this(lib, agentName, backends, source, stagingBytes, lease, true);
    }

    /**
     * @param registerCache whether to register the cache's own memory (when {@code source} has registrable
     *     regions) so decode nodes can read it in place; false leaves only the staging path
     */
    public NixlKvProducer(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            KvBlockSource source,
            long stagingBytes,
            Duration lease,
            boolean registerCache) {
        this.source = source;
        this.regions = registerCache ? source.regions() : Optional.empty();
        this.exporter = new NixlExporter(
                lib,
                agentName,
                backends,
                stagingBytes,
                regions.map(r -> Arrays.asList(r.all())).orElse(List.of()),
                lease,
                RELEASE_PREFIX,
                source::release);
    }

    /** Whether the cache itself is registered (STAGE_DIRECT answers). */
    public boolean cacheRegistered() {
        return regions.isPresent();
    }

    @Override
    public KvWire.Direct stageDirect(String requestId, int[] blockIds, int promptTokens) {
        if (regions.isEmpty()) {
            throw new KvWire.RemoteError(
                    ChannelStatus.NOT_SUPPORTED,
                    "the KV cache of " + exporter.agentName() + " is not registered (its backend exposes no memory)");
        }
        source.checkHeld(requestId, blockIds, promptTokens);
        KvRegions r = regions.get();
        long[] bases = Arrays.stream(r.all()).mapToLong(MemorySegment::address).toArray();
        directStages.incrementAndGet();
        return new KvWire.Direct(
                source.layout(),
                blockIds.length,
                r.dtype().name(),
                r.blockBytes(),
                exporter.agentName(),
                exporter.metadata(),
                bases,
                r.keys()[0].byteSize());
    }

    /** STAGE requests answered with a staging copy, since start. */
    public long stagedCopies() {
        return stagedCopies.get();
    }

    /** STAGE_DIRECT requests answered (the cache read in place, nothing copied), since start. */
    public long directStages() {
        return directStages.get();
    }

    @Override
    public Optional<KvRegions> regions() {
        return regions;
    }

    @Override
    public void checkHeld(String requestId, int[] blockIds, int promptTokens) {
        source.checkHeld(requestId, blockIds, promptTokens);
    }

    public String agentName() {
        return exporter.agentName();
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
        stagedCopies.incrementAndGet();
        long bytes = KvWire.Staged.bytesFor(blocks.layout(), blocks.numBlocks());
        NixlExport export;
        try {
            export = exporter.export(requestId, bytes, dst -> encode(blocks, dst));
        } catch (NixlTransferException e) {
            throw new KvTransferException(
                    e.getMessage() + "; raise kv_connector_extra_config.nixl_staging_mib on the prefill node", e);
        }
        return new KvWire.Staged(
                blocks.layout(), blocks.numBlocks(), export.agent(), export.metadata(), export.address(), bytes);
    }

    /** Per layer K then V, each {@code [numBlocks * blockSize, kvHeads, headDim]} f32 little-endian. */
    private static void encode(KvBlocks blocks, MemorySegment dst) {
        long pos = 0;
        for (int l = 0; l < blocks.layout().layers(); l++) {
            for (float[] rows : new float[][] {blocks.keys()[l], blocks.values()[l]}) {
                MemorySegment.copy(rows, 0, dst, LE_FLOAT, pos, rows.length);
                pos += (long) rows.length * Float.BYTES;
            }
        }
    }

    @Override
    public boolean release(String requestId) {
        exporter.release(requestId);
        return source.release(requestId);
    }

    /** Bytes of staging in use (for tests). */
    public long stagedBytes() {
        return exporter.exportedBytes();
    }

    static byte[] releaseMessage(String requestId) {
        return NixlExporter.releaseMessage(RELEASE_PREFIX, requestId);
    }

    @Override
    public void close() {
        exporter.close();
    }
}
