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
