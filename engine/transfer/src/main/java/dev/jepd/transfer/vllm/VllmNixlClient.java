package dev.jepd.transfer.vllm;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.ffi.NativeMemory;
import dev.jepd.ffi.nixl.NixlAgent;
import dev.jepd.ffi.nixl.NixlException;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.transfer.kv.KvTransferParams;
import dev.jepd.transfer.kv.KvTransport;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.zeromq.ZContext;

/**
 * A JEPD decode node as vLLM's NixlConnector decode worker (tp rank 0 of 1): it handshakes with a vLLM prefill
 * node over its ZMQ side channel (REQ, {@code (b"get_meta_msg", 0)}, one {@code NixlHandshakePayload} back within
 * 5 s), loads the prefill agent's NIXL metadata once per {@code remote_engine_id}, and reads the prompt's blocks
 * (per layer K then V, block {@code id} at {@code base + id × block_len}) with one NIXL READ whose notification
 * {@code "<remote_request_id>:1"} tells the prefill node it may free them. The blocks are HND bf16 in vLLM's
 * block size; they are widened and re-cut into JEPD's rows here.
 *
 * <p>On vLLM's wire version 12 (the nixl/ package; base_worker.py at 00bd5131, pull_worker.py at 0316d25a) the
 * request is {@code (b"get_meta_msg", 0, 0)}, the answer two frames (the payload, the prefill process's clock), the
 * metadata version 12's, and {@code remote_block_ids} one list per KV-cache group (one group here). A logical block
 * of {@code physical_blocks_per_logical_kv_block} kernel blocks is read as those kernel blocks. Which wire a request
 * is on is the setting's ({@code vllm_wire_version}) or, with {@code auto}, the shape of its
 * {@code kv_transfer_params}: the peer is never probed with the other version's request (vLLM's listener thread
 * does not survive a request of the wrong shape).
 */
public final class VllmNixlClient implements KvTransport, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VllmNixlClient.class);
    private static final int HANDSHAKE_TIMEOUT_MS = 5000; // as vLLM's decode worker

    private final NixlAgent agent;
    private final java.util.function.Function<VllmWireVersion, String> expectedHash;
    private final Duration timeout;
    private final ZContext zmq = new ZContext();
    private final Map<String, Remote> remotes = new ConcurrentHashMap<>();
    private final AtomicLong pulls = new AtomicLong();

    private final VllmWireVersion wire;

    private record Remote(
            String agent, VllmNixlWire.AgentMetadata metadata, VllmWireVersion wire, int physPerLogical) {}

    /**
     * @param expectedHash the compatibility hash a prefill node must send, or null to accept any (JEPD cannot
     *     compute vLLM's own hash without its version; see {@link VllmCompatHash})
     */
    public VllmNixlClient(
            NixlLibrary lib, String agentName, List<String> backends, String expectedHash, Duration timeout) {
        this(lib, agentName, backends, expectedHash, timeout, VllmWireVersion.V2);
    }

    /** @param wire the wire every prefill peer speaks, or null (auto) to follow each request's params */
    public VllmNixlClient(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            String expectedHash,
            Duration timeout,
            VllmWireVersion wire) {
        this(lib, agentName, backends, version -> expectedHash, timeout, wire);
    }

    /**
     * @param expectedHash per wire version, the hash a prefill node must send, or null to accept any
     * @param wire the wire every prefill peer speaks, or null (auto) to follow each request's params
     */
    public VllmNixlClient(
            NixlLibrary lib,
            String agentName,
            List<String> backends,
            java.util.function.Function<VllmWireVersion, String> expectedHash,
            Duration timeout,
            VllmWireVersion wire) {
        this.wire = wire;
        this.agent = NixlAgent.create(lib, agentName, backends);
        this.expectedHash = expectedHash;
        this.timeout = timeout;
    }

    /** Pulls read from vLLM prefill nodes since start. */
    public long pulls() {
        return pulls.get();
    }

    @Override
    public KvBlocks pull(KvTransferParams remote, int promptTokens, KvLayout expected) {
        Remote r = remote(remote);
        VllmNixlWire.AgentMetadata m = r.metadata();
        int bs = m.blockSize();
        checkLayout(m, expected);
        int needed = HndBlocks.blocksFor(promptTokens, bs);
        int[] ids = kernelBlocks(remote.remoteBlockIds(), r.physPerLogical());
        if (ids.length < needed) {
            throw new KvTransferException("the vLLM prefill node holds " + ids.length + " blocks of " + bs
                    + " tokens, a prompt of " + promptTokens + " tokens needs " + needed);
        }
        int regions = m.kvCachesBaseAddr().length;
        long len = m.blockLens()[0];
        for (int id : ids) {
            if (id < 0 || id >= m.numBlocks()) {
                throw new KvTransferException("remote block " + id + " is outside the prefill node's " + m.numBlocks());
            }
        }
        try (NativeMemory local = NativeMemory.allocate(regions * needed * len);
                NixlAgent.Registration reg = agent.registerDram(local.segment())) {
            long[] dst = new long[regions * needed];
            long[] src = new long[dst.length];
            long[] lens = new long[dst.length];
            for (int g = 0; g < regions; g++) {
                for (int j = 0; j < needed; j++) {
                    int i = g * needed + j;
                    dst[i] = local.address() + i * len;
                    src[i] = m.kvCachesBaseAddr()[g] + ids[j] * m.blockLens()[g];
                    lens[i] = len;
                }
            }
            byte[] notif = VllmNixlWire.releaseNotification(remote.remoteRequestId(), 1);
            try (NixlAgent.Transfer t = agent.read(dst, src, lens, r.agent(), notif)) {
                if (!t.await(timeout)) {
                    throw new KvTransferException("NIXL read of " + remote.remoteRequestId() + " from "
                            + remote.remoteEngineId() + " did not finish within " + timeout);
                }
            }
            pulls.incrementAndGet();
            return widen(local.segment(), regions, needed, len, bs, promptTokens, expected);
        } catch (NixlException e) {
            remotes.remove(remote.remoteEngineId()); // a restarted prefill node: handshake again next time
            throw new KvTransferException(
                    "NIXL read from the vLLM prefill node " + remote.remoteEngineId() + " failed: " + e.getMessage(),
                    e);
        }
    }

    /** Logical block ids as the kernel blocks they are made of (vLLM's {@code _logical_to_kernel_block_ids}). */
    static int[] kernelBlocks(int[] logical, int ratio) {
        if (ratio == 1) {
            return logical;
        }
        int[] out = new int[logical.length * ratio];
        for (int i = 0; i < logical.length; i++) {
            for (int k = 0; k < ratio; k++) {
                out[i * ratio + k] = logical[i] * ratio + k;
            }
        }
        return out;
    }

    /** The wire of {@code remote}: the setting's, or with auto the params' shape. */
    private VllmWireVersion wireOf(KvTransferParams remote) {
        if (remote.perGroupBlockIds() && remote.remoteNumTokens() < 0) {
            // Version 3 added remote_num_tokens; per-group ids without it are vLLM v0.17-v0.20's "version 2"
            // (after 2026-03-06), whose metadata (ssm_sizes, attn_backend_name) and hash differ from both wires here.
            throw new KvTransferException("kv_transfer_params with remote_block_ids as one list per KV-cache group but"
                    + " no remote_num_tokens come from a vLLM release between v0.17 and v0.20 (NixlConnector version 2"
                    + " after 2026-03-06), whose wire JEPD does not speak: JEPD pairs with v0.13-v0.16 (version 2) and"
                    + " releases on version 12 (README, \"Which vLLM releases these two wires pair with\")");
        }
        VllmWireVersion shaped = remote.perGroupBlockIds() ? VllmWireVersion.V12 : VllmWireVersion.V2;
        if (wire != null && wire != shaped) {
            throw new KvTransferException("kv_transfer_params with "
                    + (remote.perGroupBlockIds()
                            ? "remote_block_ids as one list per KV-cache group come from vLLM's NixlConnector"
                                    + " version 12 (the nixl/ package)"
                            : "flat remote_block_ids come from vLLM's NixlConnector version 2 (nixl_connector.py)")
                    + "; this node is set to version " + wire.connectorVersion()
                    + ": set kv_connector_extra_config.vllm_wire_version to " + shaped.connectorVersion()
                    + " or auto");
        }
        return shaped;
    }

    /** The notification went with the read: vLLM's prefill node frees the blocks when it arrives. */
    @Override
    public void confirm(KvTransferParams remote) {}

    private static void checkLayout(VllmNixlWire.AgentMetadata m, KvLayout expected) {
        if (!VllmNixlWire.HND.equals(m.kvCacheLayout())) {
            throw new KvTransferException("the vLLM prefill node's KV layout is " + m.kvCacheLayout()
                    + "; only HND is read (vLLM's NixlConnector sets HND unless the model uses MLA)");
        }
        if (m.kvCachesBaseAddr().length != 2L * expected.layers()) {
            throw new KvTransferException("the vLLM prefill node has " + m.kvCachesBaseAddr().length
                    + " KV regions, this model's " + expected.layers() + " layers need " + 2 * expected.layers());
        }
        long want = HndBlocks.blockBytes(expected, m.blockSize());
        for (long l : m.blockLens()) {
            if (l != want) {
                throw new KvTransferException(
                        "the vLLM prefill node's blocks are " + l + " bytes; " + expected.kvHeads()
                                + " KV heads × " + m.blockSize() + " tokens × " + expected.headDim()
                                + " in bf16 are " + want + " (another model, dtype or tensor-parallel size?)");
            }
        }
    }

    /** vLLM's HND bf16 blocks (region-major) as JEPD's f32 rows in JEPD's block size, zero past the prompt. */
    static KvBlocks widen(
            MemorySegment local, int regions, int n, long len, int bs, int promptTokens, KvLayout expected) {
        int jepdBlocks = (promptTokens + expected.blockSize() - 1) / expected.blockSize();
        int layers = expected.layers();
        int heads = expected.kvHeads();
        int dim = expected.headDim();
        int row = expected.rowFloats();
        float[][] keys = new float[layers][(int) expected.blockFloats(jepdBlocks)];
        float[][] values = new float[layers][(int) expected.blockFloats(jepdBlocks)];
        for (int g = 0; g < regions; g++) {
            float[] rows = g % 2 == 0 ? keys[g / 2] : values[g / 2];
            for (int token = 0; token < promptTokens; token++) {
                int j = token / bs;
                int t = token % bs;
                long block = (long) (g * n + j) * len;
                for (int h = 0; h < heads; h++) {
                    long at = block + (((long) h * bs + t) * dim) * 2;
                    for (int d = 0; d < dim; d++) {
                        short bits = local.get(HndBlocks.LE_SHORT, at + 2L * d);
                        rows[token * row + h * dim + d] = Float.intBitsToFloat((bits & 0xffff) << 16);
                    }
                }
            }
        }
        return new KvBlocks(expected, jepdBlocks, keys, values);
    }

    /** The handshake with {@code remote}'s prefill node, done once per engine id. */
    private Remote remote(KvTransferParams remote) {
        String engine = remote.remoteEngineId();
        if (engine == null) {
            throw new KvTransferException("kv_transfer_params without remote_engine_id");
        }
        VllmWireVersion version = wireOf(remote);
        Remote known = remotes.get(engine);
        if (known != null && known.wire() == version) {
            return known;
        }
        synchronized (this) {
            known = remotes.get(engine);
            if (known != null && known.wire() == version) {
                return known;
            }
            VllmNixlWire.HandshakePayload p = handshake(remote.remoteHost(), remote.remotePort(), version);
            String expected = expectedHash.apply(version);
            if (expected != null && !expected.equals(p.compatibilityHash())) {
                throw new KvTransferException("NIXL compatibility hash mismatch: this node expects " + expected
                        + ", the prefill node at " + remote.remoteHost() + ":" + remote.remotePort() + " sent "
                        + p.compatibilityHash());
            }
            VllmNixlWire.AgentMetadata m;
            int physPerLogical = 1;
            try {
                if (version == VllmWireVersion.V12) {
                    VllmNixlWire.AgentMetadataV12 m12 = VllmNixlWire.AgentMetadataV12.decode(p.agentMetadataBytes());
                    checkV12(m12);
                    m = m12.asV2();
                    physPerLogical = m12.physicalBlocksPerLogicalKvBlock();
                } else {
                    m = p.metadata();
                }
            } catch (VllmNixlWire.WireException e) {
                throw new KvTransferException("the vLLM prefill node's NixlAgentMetadata: " + e.getMessage(), e);
            }
            if (!engine.equals(m.engineId())) {
                throw new KvTransferException(
                        "remote NIXL agent engine id mismatch: expected " + engine + ", received " + m.engineId());
            }
            String name;
            try {
                name = agent.loadRemote(m.agentMetadata());
            } catch (NixlException e) {
                throw new KvTransferException("loading the vLLM prefill node's NIXL metadata: " + e.getMessage(), e);
            }
            LOG.info("NIXL handshake with vLLM prefill engine {} ({}): {}", engine, name, m);
            Remote r = new Remote(name, m, version, physPerLogical);
            remotes.put(engine, r);
            return r;
        }
    }

    /** What this reader handles of version 12's geometry: one group of equal, contiguous, unsharded regions. */
    private static void checkV12(VllmNixlWire.AgentMetadataV12 m) {
        String why = null;
        if (!java.util.Arrays.equals(m.blockLens(), m.blockStrides())) {
            why = "its block_strides differ from its block_lens (padded or packed blocks)";
        } else if (m.ssmSizes()[0] != 0 || m.ssmSizes()[1] != 0) {
            why = "it holds Mamba (SSM) state";
        } else if (m.dcpSize() != 1 || m.pcpSize() != 1) {
            why = "it runs context parallel (dcp " + m.dcpSize() + ", pcp " + m.pcpSize() + ")";
        } else if (m.physicalBlocksPerLogicalKvBlock() < 1) {
            why = "physical_blocks_per_logical_kv_block is " + m.physicalBlocksPerLogicalKvBlock();
        } else if (m.regionNumBlocks() != null) {
            for (long n : m.regionNumBlocks()) {
                if (n != m.numBlocks()) {
                    why = "its regions hold different numbers of blocks (region_num_blocks)";
                }
            }
        }
        if (m.regionGroupIds() != null) {
            for (long g : m.regionGroupIds()) {
                if (g != 0) {
                    why = "its regions belong to several KV-cache groups";
                }
            }
        }
        if (why != null) {
            throw new KvTransferException("the vLLM prefill node " + m.engineId() + " cannot be read by JEPD: " + why);
        }
    }

    private VllmNixlWire.HandshakePayload handshake(String host, int port, VllmWireVersion version) {
        try {
            List<byte[]> answer = VllmSideChannel.ask(
                    zmq,
                    host,
                    port,
                    version == VllmWireVersion.V12 ? VllmNixlWire.encodeGetMeta(0, 0) : VllmNixlWire.encodeGetMeta(0),
                    HANDSHAKE_TIMEOUT_MS);
            byte[] raw = answer == null ? null : answer.getFirst();
            if (raw == null) {
                throw new KvTransferException("no NIXL handshake answer from " + host + ":" + port + " within "
                        + HANDSHAKE_TIMEOUT_MS + " ms (is it a vLLM NixlConnector prefill node?)");
            }
            int frames = answer.size();
            if (frames == 2 && version == VllmWireVersion.V12) {
                LOG.debug(
                        "vLLM prefill node {}:{} clock: {} s",
                        host,
                        port,
                        VllmNixlWire.decodePerfCounter(answer.get(1)));
            }
            int expectedFrames = version == VllmWireVersion.V12 ? 2 : 1;
            if (frames != expectedFrames) {
                throw new KvTransferException("the NIXL handshake answer from " + host + ":" + port + " has " + frames
                        + " frames; vLLM's NixlConnector version " + version.connectorVersion() + " sends "
                        + expectedFrames + " (set kv_connector_extra_config.vllm_wire_version to match the prefill"
                        + " node)");
            }
            return VllmNixlWire.HandshakePayload.decode(raw);
        } catch (VllmNixlWire.WireException e) {
            throw new KvTransferException("the NIXL handshake from " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        zmq.close();
        agent.close();
    }
}
