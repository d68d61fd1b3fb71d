package dev.jepd.transfer.nixl;

import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.transfer.kv.KvStager;
import dev.jepd.transfer.kv.KvWire;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;

/**
 * The prefill node's NIXL transport: KV blocks as the payload of a {@link NixlExporter}. When a decode node asks
 * (STAGE on the side channel) it exports a held request's blocks under the request id, in the READ body's order
 * and encoding, and frees both the exported copy and the held blocks when the decode node's notification
 * {@code jepd-kv-release:<request id>} arrives or a RELEASE comes over the side channel; the copy alone when its
 * lease runs out (the engine expires the held blocks themselves).
 *
 * <p>Why a staging copy and not the cache itself, as vLLM registers: the DJL backend does not expose the cache
 * tensors' addresses. A backend that does can register the cache and drop the copy behind the same protocol.
 */
public final class NixlKvProducer implements KvBlockSource, KvStager, AutoCloseable {
    /** The release notification's prefix; on the wire between JEPD nodes, so never change it. */
    static final String RELEASE_PREFIX = "jepd-kv-release:";

    static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final KvBlockSource source;
    private final NixlExporter exporter;

    public NixlKvProducer(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            KvBlockSource source,
            long stagingBytes,
            Duration lease) {
        this.source = source;
        this.exporter =
                new NixlExporter(lib, agentName, backends, stagingBytes, lease, RELEASE_PREFIX, source::release);
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
