package dev.jepd.transfer.nixl;

import dev.jepd.engine.connector.EcEntry;
import dev.jepd.engine.connector.EcStoreException;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.tensor.DType;
import dev.jepd.transfer.channel.ChannelException;
import dev.jepd.transfer.channel.ChannelHandler;
import dev.jepd.transfer.channel.ChannelStatus;
import dev.jepd.transfer.channel.Frames;
import dev.jepd.transfer.channel.SideChannelClient;
import dev.jepd.transfer.channel.SideChannelServer;
import dev.jepd.transfer.ec.CountingEcConnector;
import dev.jepd.transfer.ec.EcTransferConfig;
import dev.jepd.transfer.ec.PulledEntries;
import java.io.DataInputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The encoder cache over NIXL, in the roles and configuration of vllm-rbln's {@code RblnECNixlConnector}: the PD
 * node binds {@code pull_host:pull_port}; each encoder, once it has an item's embeddings, exports them as vLLM's
 * {@code ec_cache} bytes (bf16 {@code [N, D]}) from an area registered with its NIXL agent and offers them there.
 * The PD node reads the item with one NIXL READ while the encoder waits, keeps it in a bounded LRU of pulled items,
 * and answers; the encoder then frees its export and answers its own client 200. So, as with the shared directory,
 * the item is on the PD node before the proxy sends it the request, and no file is written anywhere.
 *
 * <p>Any failure on the encoder's side (the PD unreachable, its offer refused, the read failed) is an
 * {@link EcStoreException}: the encoder answers an error the proxy treats as a miss, and the PD node encodes the
 * item itself. A PD node that has no item of that key and shape counts a miss and encodes it locally.
 *
 * <p>Wire (JEPD's side channel envelope, magic {@code JEEC}): OFFER = key:str tokens:i32 dim:i32 agent:str
 * metadata:(len:i32 bytes) address:i64 bytes:i64; the reply has no body. The encoder answers the PD's
 * {@code contains} as false: it always encodes and offers, so a PD node that evicted an item gets it again.
 */
public final class NixlEcConnector extends CountingEcConnector implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NixlEcConnector.class);

    static final int MAGIC = 0x4A454543; // "JEEC"
    static final int OP_OFFER = 1;
    private static final int MAX_METADATA = 1 << 20;
    private static final List<String> UCX = List.of("UCX");
    private static final String RELEASE_PREFIX = "jepd-ec-release:";

    private final NixlExporter exporter; // encoder side; null on a PD node
    private final String llmHost;
    private final int llmPort;
    private final SideChannelClient client;
    private final NixlPuller puller; // PD side; null on an encoder
    private final SideChannelServer server;
    private final long capacityBytes;
    private final PulledEntries pulled;

    private NixlEcConnector(
            NixlExporter exporter,
            String llmHost,
            int llmPort,
            NixlPuller puller,
            SideChannelServer server,
            long capacityBytes,
            Duration timeout) {
        this.exporter = exporter;
        this.llmHost = llmHost;
        this.llmPort = llmPort;
        this.client = new SideChannelClient(Duration.ofSeconds(5), timeout);
        this.puller = puller;
        this.server = server;
        this.capacityBytes = capacityBytes;
        this.pulled = new PulledEntries(capacityBytes, evictions::incrementAndGet);
    }

    /**
     * Opens the connector {@code config} names ({@link EcTransferConfig#isNixl()}): an exporter on an encoder, an
     * offer channel and a puller on a PD node, both for {@code ec_both}.
     *
     * @throws IOException when the PD node cannot bind {@code pull_host:pull_port}
     */
    public static NixlEcConnector open(NixlLibrary lib, EcTransferConfig config) throws IOException {
        String id = UUID.randomUUID().toString().substring(0, 8);
        long area = config.nixlBufferBytes();
        Duration timeout = Duration.ofSeconds(30);
        NixlExporter exporter = null;
        NixlPuller puller = null;
        try {
            if (config.isProducer()) {
                exporter = new NixlExporter(
                        lib, "jepd-ec-encoder-" + id, UCX, area, Duration.ofMinutes(1), RELEASE_PREFIX, null);
            }
            NixlEcConnector c;
            if (config.isConsumer()) {
                puller = new NixlPuller(lib, "jepd-ec-pd-" + id, UCX, area, timeout);
                long capacity = config.capacityBytes().orElse(1L << 30);
                // The handler needs the connector, the connector the server: bind after construction.
                Holder holder = new Holder();
                SideChannelServer server = new SideChannelServer(
                        "jepd-ec-offers",
                        MAGIC,
                        Map.of(OP_OFFER, body -> holder.connector.receive(body)),
                        config.pullHost(),
                        config.pullPort(),
                        timeout);
                c = new NixlEcConnector(
                        exporter,
                        config.isProducer() ? config.llmHost() : null,
                        config.isProducer() ? config.llmPullPort() : 0,
                        puller,
                        server,
                        capacity,
                        timeout);
                holder.connector = c;
            } else {
                c = new NixlEcConnector(exporter, config.llmHost(), config.llmPullPort(), null, null, 0, timeout);
            }
            LOG.info(
                    "EC over NIXL: {}{}",
                    exporter == null ? "" : "offering to " + config.llmHost() + ":" + config.llmPullPort() + " ",
                    puller == null ? "" : "taking offers on " + config.pullHost() + ":" + config.pullPort());
            return c;
        } catch (IOException | RuntimeException e) {
            if (puller != null) {
                puller.close();
            }
            if (exporter != null) {
                exporter.close();
            }
            throw e;
        }
    }

    private static final class Holder {
        volatile NixlEcConnector connector;
    }

    /** The encoder always encodes and offers: the PD node, not the encoder, knows what it holds. */
    @Override
    public boolean contains(String key) {
        return puller != null && peek(key) != null;
    }

    private EcEntry peek(String key) {
        return pulled.get(key);
    }

    @Override
    public Optional<EcEntry> load(String key, int expectedTokens, int expectedDim) {
        EcEntry e = puller == null ? null : peek(key);
        if (e == null || e.numTokens() != expectedTokens || e.dim() != expectedDim) {
            misses.incrementAndGet();
            if (e != null) {
                LOG.warn(
                        "EC item {} pulled as [{}, {}], the request needs [{}, {}]: a miss",
                        key,
                        e.numTokens(),
                        e.dim(),
                        expectedTokens,
                        expectedDim);
            }
            return Optional.empty();
        }
        hits.incrementAndGet();
        return Optional.of(e);
    }

    /**
     * Exports {@code rows} as bf16 and offers them to the PD node, which reads them before it answers.
     *
     * @throws EcStoreException when the PD node cannot be reached, refuses, or its read fails
     */
    @Override
    public void save(String key, float[] rows, int numTokens, int dim) {
        if (exporter == null) {
            throw new EcStoreException("this node is not an EC producer (ec_role)", null);
        }
        long bytes = (long) numTokens * dim * DType.BF16.byteSize();
        NixlExport export;
        try {
            export = exporter.export(key, bytes, seg -> DType.BF16.setFloats(seg, 0, rows, 0, rows.length));
        } catch (NixlTransferException e) {
            throw new EcStoreException(
                    "EC item " + key + ": " + e.getMessage() + " (raise ec_connector_extra_config.nixl_buffer_mib)", e);
        }
        try {
            client.call(
                    llmHost,
                    llmPort,
                    MAGIC,
                    OP_OFFER,
                    out -> {
                        Frames.writeString(out, key);
                        Frames.writeInt(out, numTokens);
                        Frames.writeInt(out, dim);
                        Frames.writeString(out, export.agent());
                        Frames.writeInt(out, export.metadata().length);
                        out.write(export.metadata());
                        Frames.writeLong(out, export.address());
                        Frames.writeLong(out, export.bytes());
                    },
                    in -> null);
            saves.incrementAndGet();
        } catch (RuntimeException e) {
            throw new EcStoreException(
                    "EC item " + key + " could not be staged on the PD node at " + llmHost + ":" + llmPort + ": "
                            + e.getMessage(),
                    e);
        } finally {
            exporter.release(key); // the PD node has read it, or will not
        }
    }

    /** PD side: one offer, read with NIXL before the reply, so the encoder may free its export when we answer. */
    private ChannelHandler.Reply receive(DataInputStream in) throws IOException {
        String key = Frames.readString(in);
        int tokens = Frames.readInt(in);
        int dim = Frames.readInt(in);
        String agent = Frames.readString(in);
        int metaLen = Frames.readInt(in);
        if (metaLen <= 0 || metaLen > MAX_METADATA) {
            throw new ChannelException(ChannelStatus.REJECTED, "NIXL metadata of " + metaLen + " bytes");
        }
        byte[] metadata = in.readNBytes(metaLen);
        long address = Frames.readLong(in);
        long bytes = Frames.readLong(in);
        if (tokens <= 0 || dim <= 0 || bytes != (long) tokens * dim * DType.BF16.byteSize()) {
            throw new ChannelException(
                    ChannelStatus.REJECTED, "an item of [" + tokens + ", " + dim + "] bf16 is not " + bytes + " bytes");
        }
        if (bytes > capacityBytes / 2) {
            throw new ChannelException(
                    ChannelStatus.REJECTED,
                    "an item of " + bytes + " bytes does not fit this node's EC capacity of " + capacityBytes);
        }
        float[] rows;
        try {
            rows = puller.pull(new NixlExport(agent, metadata, address, bytes), seg -> widen(seg, tokens * dim));
        } catch (RuntimeException e) {
            throw new ChannelException(ChannelStatus.INTERNAL, "NIXL read from " + agent + ": " + e.getMessage());
        }
        pulled.put(new EcEntry(key, tokens, dim, rows));
        return ChannelHandler.Reply.EMPTY;
    }

    private static float[] widen(MemorySegment seg, int n) {
        float[] rows = new float[n];
        DType.BF16.getFloats(seg, 0, rows, 0, n);
        return rows;
    }

    @Override
    public long bytesStored() {
        return pulled.bytes();
    }

    @Override
    public void close() {
        if (server != null) {
            server.close();
        }
        if (puller != null) {
            puller.close();
        }
        if (exporter != null) {
            exporter.close();
        }
    }
}
