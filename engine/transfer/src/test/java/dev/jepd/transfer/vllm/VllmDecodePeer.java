package dev.jepd.transfer.vllm;

import dev.jepd.ffi.NativeMemory;
import dev.jepd.ffi.nixl.NixlAgent;
import dev.jepd.ffi.nixl.NixlLibrary;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;
import org.zeromq.ZContext;

/**
 * A stand-in for a stock vLLM decode worker (NixlConnector, tp 1), written from vLLM's {@code nixl_connector.py}:
 * a REQ socket sends {@code (b"get_meta_msg", 0)} and reads one {@code NixlHandshakePayload}; after the hash check
 * the agent metadata's NIXL blob is loaded; one READ copies, region by region (per layer K then V), the remote
 * blocks at {@code base + id × block_len} into local blocks, with {@code "<remote_request_id>:1"} as its
 * notification.
 *
 * <p>On vLLM's wire version 12 (the nixl/ package: base_worker.py at 00bd5131, pull_worker.py at 0316d25a) it asks
 * {@code (b"get_meta_msg", 0, 0)}, takes a two-frame answer (payload, the prefill process's perf_counter), decodes
 * version 12's metadata, reads the one KV-cache group's ids of {@code remote_block_ids}, and sends
 * {@code "HB:<id>,..."} heartbeats while its requests wait.
 */
public final class VllmDecodePeer implements AutoCloseable {
    private final ZContext zmq = new ZContext();
    private final NixlAgent agent;

    public VllmDecodePeer(NixlLibrary lib, String name) {
        this.agent = NixlAgent.create(lib, name, List.of("UCX"));
    }

    /** The raw answer to {@code (b"get_meta_msg", rank)}, within vLLM's 5 s ({@link VllmSideChannel#ask}); null on timeout. */
    public byte[] ask(String host, int port, int rank) {
        return VllmSideChannel.ask(zmq, host, port, rank, 5000);
    }

    /** The raw frames answering {@code (b"get_meta_msg", pp, tp)}, as vLLM's version 12 worker asks; null on timeout. */
    public List<byte[]> ask12(String host, int port, int ppRank, int tpRank) {
        return VllmSideChannel.ask(zmq, host, port, VllmNixlWire.encodeGetMeta(ppRank, tpRank), 5000);
    }

    /**
     * The version 12 handshake as vLLM's decode worker does it: two frames (it asserts so), the clock frame decoded,
     * the hash checked before the version 12 metadata is decoded, then the engine id.
     */
    public VllmNixlWire.AgentMetadataV12 handshake12(
            String host, int port, String expectedHash, String expectedEngine) {
        List<byte[]> frames = ask12(host, port, 0, 0);
        if (frames == null) {
            throw new IllegalStateException("no handshake answer within 5 s");
        }
        if (frames.size() != 2) {
            throw new IllegalStateException("AssertionError: a handshake answer of " + frames.size() + " frames");
        }
        VllmNixlWire.decodePerfCounter(frames.get(1));
        VllmNixlWire.HandshakePayload p = VllmNixlWire.HandshakePayload.decode(frames.get(0));
        if (!p.compatibilityHash().equals(expectedHash)) {
            throw new IllegalStateException("NIXL compatibility hash mismatch: " + p.compatibilityHash());
        }
        VllmNixlWire.AgentMetadataV12 m = VllmNixlWire.AgentMetadataV12.decode(p.agentMetadataBytes());
        if (!m.engineId().equals(expectedEngine)) {
            throw new IllegalStateException("Remote NIXL agent engine ID mismatch: " + m.engineId());
        }
        return m;
    }

    /**
     * A heartbeat for {@code remoteRequestIds}, as vLLM's version 12 decode worker sends it to each prefill worker
     * it handshook with.
     */
    public void heartbeat(VllmNixlWire.AgentMetadataV12 m, List<String> remoteRequestIds) {
        String remote = agent.loadRemote(m.agentMetadata());
        agent.notify(remote, VllmNixlWire.heartbeat(remoteRequestIds));
    }

    /**
     * A version 12 read: {@code remoteBlockIds} per KV-cache group, concatenated over the groups (vLLM's
     * {@code np.concatenate(block_ids)} for attention-only models), each block {@code block_lens[r]} bytes at
     * {@code base + id × block_lens[r]}.
     */
    public byte[][] read12(VllmNixlWire.AgentMetadataV12 m, int[][] remoteBlockIds, String remoteRequestId)
            throws Exception {
        if (m.physicalBlocksPerLogicalKvBlock() != 1 || m.regionNumBlocks() != null) {
            throw new IllegalStateException("the stand-in reads one group of equal regions only: " + m);
        }
        return read(
                m.asV2(),
                java.util.Arrays.stream(remoteBlockIds)
                        .flatMapToInt(java.util.Arrays::stream)
                        .toArray(),
                remoteRequestId);
    }

    /** The handshake as vLLM's decode worker does it; the metadata after the hash and engine id checks. */
    public VllmNixlWire.AgentMetadata handshake(String host, int port, String expectedHash, String expectedEngine) {
        byte[] raw = ask(host, port, 0);
        if (raw == null) {
            throw new IllegalStateException("no handshake answer within 5 s");
        }
        VllmNixlWire.HandshakePayload p = VllmNixlWire.HandshakePayload.decode(raw);
        if (!p.compatibilityHash().equals(expectedHash)) {
            throw new IllegalStateException("NIXL compatibility hash mismatch: " + p.compatibilityHash());
        }
        VllmNixlWire.AgentMetadata m = p.metadata();
        if (!m.engineId().equals(expectedEngine)) {
            throw new IllegalStateException("Remote NIXL agent engine ID mismatch: " + m.engineId());
        }
        return m;
    }

    /**
     * Reads {@code remoteBlockIds} of every region into fresh local memory, notifying
     * {@code "<remoteRequestId>:1"}; returns per region the blocks' bytes, concatenated in id order.
     */
    public byte[][] read(VllmNixlWire.AgentMetadata m, int[] remoteBlockIds, String remoteRequestId) throws Exception {
        String remote = agent.loadRemote(m.agentMetadata());
        int regions = m.kvCachesBaseAddr().length;
        int n = remoteBlockIds.length;
        long len = m.blockLens()[0];
        try (NativeMemory local = NativeMemory.allocate(regions * n * len);
                NixlAgent.Registration reg = agent.registerDram(local.segment())) {
            long[] dst = new long[regions * n];
            long[] src = new long[regions * n];
            long[] lens = new long[regions * n];
            for (int r = 0; r < regions; r++) {
                for (int j = 0; j < n; j++) {
                    int i = r * n + j; // vLLM's desc id order: region-major, then block
                    dst[i] = local.address() + i * len;
                    src[i] = m.kvCachesBaseAddr()[r] + remoteBlockIds[j] * m.blockLens()[r];
                    lens[i] = m.blockLens()[r];
                }
            }
            try (NixlAgent.Transfer t =
                    agent.read(dst, src, lens, remote, VllmNixlWire.releaseNotification(remoteRequestId, 1))) {
                if (!t.await(Duration.ofSeconds(20))) {
                    throw new IllegalStateException("NIXL read did not finish");
                }
            }
            byte[][] out = new byte[regions][];
            for (int r = 0; r < regions; r++) {
                MemorySegment s = local.segment().asSlice(r * n * len, n * len);
                out[r] = s.toArray(ValueLayout.JAVA_BYTE);
            }
            return out;
        }
    }

    /**
     * The notification alone, as vLLM's decode worker sends it on a full prefix-cache hit (nothing to read), or as
     * each of {@code worldSize} decode workers does.
     */
    public void notifyOnly(VllmNixlWire.AgentMetadata m, String remoteRequestId, int worldSize) {
        String remote = agent.loadRemote(m.agentMetadata());
        agent.notify(remote, VllmNixlWire.releaseNotification(remoteRequestId, worldSize));
    }

    @Override
    public void close() {
        zmq.close();
        agent.close();
    }
}
