package dev.jepd.pd;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLeaseRegistry;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.generate.EngineCore;
import dev.jepd.ffi.nixl.NixlException;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.transfer.kv.JepdKvClient;
import dev.jepd.transfer.kv.JepdKvServer;
import dev.jepd.transfer.kv.KvTransferConfig;
import dev.jepd.transfer.kv.KvTransferConfigException;
import dev.jepd.transfer.kv.KvTransferParams;
import dev.jepd.transfer.kv.KvTransport;
import dev.jepd.transfer.nixl.NixlKvClient;
import dev.jepd.transfer.nixl.NixlKvProducer;
import dev.jepd.transfer.vllm.VllmCompatHash;
import dev.jepd.transfer.vllm.VllmNixlClient;
import dev.jepd.transfer.vllm.VllmNixlProducer;
import dev.jepd.transfer.vllm.VllmSideChannel;
import dev.jepd.transfer.vllm.VllmWireVersion;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A PD node's part in prefill/decode disaggregation, from its {@code --kv-transfer-config}: as a producer it runs
 * the side channel that serves held blocks; as a consumer it pulls them. {@code kv_both} does both. With NIXL (see
 * {@link KvTransferConfig}) the producer also stages blocks for NIXL reads and the consumer reads with NIXL. With
 * {@code side_channel: vllm} the producer speaks vLLM's NixlConnector wire instead (a ZMQ ROUTER and a NIXL area in
 * vLLM's KV layout, {@link VllmNixlProducer}), so stock vLLM decode nodes read from it.
 */
public final class PdKvTransfer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PdKvTransfer.class);
    private static final Duration MAX_CONNECT = Duration.ofSeconds(5);

    private final KvTransferConfig config;
    private final String engineId;
    private final String advertisedHost;
    private final JepdKvServer server;
    private final KvTransport transport;
    private final NixlKvProducer producer;
    private final String transportName;
    private final List<AutoCloseable> owned;
    private EngineCore engine;
    private VllmNixlProducer vllm;
    private VllmSideChannel vllmSideChannel;

    private PdKvTransfer(
            KvTransferConfig config,
            String engineId,
            String advertisedHost,
            JepdKvServer server,
            KvTransport t,
            NixlKvProducer producer,
            String transportName,
            List<AutoCloseable> owned) {
        this.producer = producer;
        this.config = config;
        this.engineId = engineId;
        this.advertisedHost = advertisedHost;
        this.server = server;
        this.transport = t;
        this.transportName = transportName;
        this.owned = owned;
    }

    /** Starts the side channel (producers) on {@code listenHost}, and the client (consumers). */
    public static PdKvTransfer start(KvTransferConfig config, EngineCore engine, String listenHost) throws IOException {
        return start(config, engine, listenHost, "unknown");
    }

    /** As above; {@code model} is the model string given to serve (part of vLLM's compatibility hash). */
    public static PdKvTransfer start(KvTransferConfig config, EngineCore engine, String listenHost, String model)
            throws IOException {
        if (config.vllm() != null) {
            return config.isProducer()
                    ? startVllm(config, engine, listenHost, model)
                    : startVllmConsumer(config, engine, model);
        }
        String engineId = engineId(config);
        String advertised = sideChannelHost(config, listenHost);
        Optional<NixlLibrary> nixl = nixlLibrary(config);
        List<AutoCloseable> owned = new ArrayList<>();
        try {
            KvBlockSource source = engine;
            NixlKvProducer producer = null;
            if (config.isProducer() && nixl.isPresent()) {
                producer = new NixlKvProducer(
                        nixl.get(),
                        "jepd-prefill-" + engineId,
                        config.nixlBackends(),
                        engine,
                        (long) config.nixlStagingMib() << 20,
                        config.lease());
                owned.add(producer);
                source = producer;
            }
            JepdKvServer server = config.isProducer()
                    ? new JepdKvServer(
                            source, producer, engineId, listenHost, config.sideChannelPort(), config.transferTimeout())
                    : null;
            if (server != null) {
                owned.add(server);
            }
            Duration connect =
                    config.transferTimeout().compareTo(MAX_CONNECT) < 0 ? config.transferTimeout() : MAX_CONNECT;
            KvTransport client = null;
            if (config.isConsumer()) {
                JepdKvClient sideChannel = new JepdKvClient(connect, config.transferTimeout());
                if (nixl.isPresent()) {
                    NixlKvClient c = new NixlKvClient(
                            nixl.get(),
                            "jepd-decode-" + engineId,
                            config.nixlBackends(),
                            (long) config.nixlStagingMib() << 20,
                            engine.regions().orElse(null), // the cache itself, read into in place
                            sideChannel,
                            config.transferTimeout());
                    owned.add(c);
                    client = c;
                } else {
                    client = sideChannel;
                }
            }
            String name = nixl.isPresent() ? "nixl" : "tcp";
            LOG.info(
                    "KV transfer: {} as {} over {} (engine {})",
                    config.connector(),
                    config.role().jsonName(),
                    nixl.isPresent()
                            ? "NIXL " + config.nixlBackends() + " from "
                                    + nixl.get().location()
                            : "JEPD's TCP side channel",
                    engineId);
            return new PdKvTransfer(config, engineId, advertised, server, client, producer, name, owned);
        } catch (NixlException e) {
            closeAll(owned);
            throw new KvTransferConfigException("NIXL could not start: " + e.getMessage()
                    + (config.transport() == KvTransferConfig.Transport.AUTO
                            ? " (set kv_connector_extra_config.kv_transport to tcp to run without NIXL)"
                            : ""));
        } catch (IOException | RuntimeException e) {
            closeAll(owned);
            throw e;
        }
    }

    /** The configured {@code engine_id}, else a fresh one. */
    private static String engineId(KvTransferConfig config) {
        return config.engineId() != null ? config.engineId() : UUID.randomUUID().toString();
    }

    /** Where peers reach the side channel: the configured host, else the listen host (loopback for a wildcard). */
    private static String sideChannelHost(KvTransferConfig config, String listenHost) {
        return config.sideChannelHost() != null
                ? config.sideChannelHost()
                : (listenHost.equals("0.0.0.0") || listenHost.equals("::") ? "127.0.0.1" : listenHost);
    }

    /**
     * A prefill node on vLLM's wire: the NIXL area in vLLM's layout, sized from {@code nixl_staging_mib}, and the
     * ZMQ side channel on {@code side_channel_port}.
     */
    private static PdKvTransfer startVllm(KvTransferConfig config, EngineCore engine, String listenHost, String model) {
        KvTransferConfig.Vllm v = config.vllm();
        NixlLibrary lib = NixlLibrary.require(); // a vLLM decode node reads only with NIXL
        String engineId = engineId(config);
        String advertised = sideChannelHost(config, listenHost);
        var layout = engine.layout();
        long blockBytes = dev.jepd.transfer.vllm.HndBlocks.blockBytes(layout, v.blockSize());
        long blocks = ((long) config.nixlStagingMib() << 20) / (2L * layout.layers() * blockBytes);
        if (blocks < 1) {
            throw new KvTransferConfigException("kv_connector_extra_config.nixl_staging_mib " + config.nixlStagingMib()
                    + " holds no vLLM KV block of " + layout.layers() + " layers");
        }
        VllmWireVersion wire = v.wire(); // a prefill node always names one
        String hash = v.compatHash() != null ? v.compatHash() : compatHash(v, engine, model, wire);
        // Version 12: vLLM's short lease, renewed by the decode node's heartbeats; version 2: lease_seconds.
        Duration lease = wire == VllmWireVersion.V12 ? Duration.ofSeconds(v.leaseDurationSeconds()) : config.lease();
        Duration extension = Duration.ofSeconds(v.leaseDurationSeconds() * 2L / 3);
        if (v.compatHash() == null && v.version() == null) {
            LOG.warn("side_channel vllm without vllm_version or vllm_compat_hash: vLLM decode nodes must run with"
                    + " kv_connector_extra_config {\"enforce_handshake_compat\": false}");
        }
        List<AutoCloseable> owned = new ArrayList<>();
        try {
            VllmNixlProducer producer = new VllmNixlProducer(
                    lib,
                    engineId,
                    config.nixlBackends(),
                    layout,
                    v.blockSize(),
                    Math.toIntExact(Math.min(blocks, Integer.MAX_VALUE)),
                    hash,
                    lease,
                    null,
                    wire,
                    v.attnBackend(),
                    extension);
            owned.add(producer);
            byte[] payload = producer.handshakePayload();
            VllmSideChannel side =
                    new VllmSideChannel(listenHost, config.sideChannelPort(), wire, rank -> rank == 0 ? payload : null);
            owned.add(side);
            LOG.info(
                    "KV transfer: NixlConnector as kv_producer on vLLM's wire version {} (ZMQ side channel {}:{}, NIXL {}"
                            + " from {}, {} blocks of {} tokens in vLLM's HND bf16 layout, compatibility hash {}, lease"
                            + " {} s{}; engine {})",
                    wire.connectorVersion(),
                    listenHost,
                    side.port(),
                    config.nixlBackends(),
                    lib.location(),
                    producer.numBlocks(),
                    v.blockSize(),
                    hash,
                    lease.toSeconds(),
                    wire == VllmWireVersion.V12 ? ", renewed by heartbeats by " + extension.toSeconds() + " s" : "",
                    engineId);
            PdKvTransfer t = new PdKvTransfer(config, engineId, advertised, null, null, null, "nixl", owned);
            t.engine = engine;
            t.vllm = producer;
            t.vllmSideChannel = side;
            return t;
        } catch (NixlException e) {
            closeAll(owned);
            throw new KvTransferConfigException("NIXL could not start: " + e.getMessage());
        } catch (RuntimeException e) {
            closeAll(owned);
            throw e;
        }
    }

    /**
     * A decode node on vLLM's wire: pulls from vLLM prefill nodes with {@link VllmNixlClient}. The compatibility
     * hash is checked only when this node can know it ({@code vllm_compat_hash}, or {@code vllm_version}).
     */
    private static PdKvTransfer startVllmConsumer(KvTransferConfig config, EngineCore engine, String model) {
        KvTransferConfig.Vllm v = config.vllm();
        NixlLibrary lib = NixlLibrary.require(); // a vLLM prefill node serves only NIXL reads
        String engineId = config.engineId() != null
                ? config.engineId()
                : UUID.randomUUID().toString();
        java.util.function.Function<VllmWireVersion, String> expected = version -> v.compatHash() != null
                ? v.compatHash()
                : v.version() == null ? null : compatHash(v, engine, model, version);
        try {
            VllmNixlClient client = new VllmNixlClient(
                    lib,
                    "jepd-vllm-decode-" + engineId,
                    config.nixlBackends(),
                    expected,
                    config.transferTimeout(),
                    v.wire());
            LOG.info(
                    "KV transfer: NixlConnector as kv_consumer on vLLM's wire {} (NIXL {} from {}, compatibility hash"
                            + " {}; engine {})",
                    v.wire() == null
                            ? "version 2 or 12 as each request's kv_transfer_params are shaped"
                            : "version " + v.wire().connectorVersion(),
                    config.nixlBackends(),
                    lib.location(),
                    v.compatHash() != null
                            ? v.compatHash()
                            : v.version() == null ? "not checked" : "computed from vllm_version " + v.version(),
                    engineId);
            return new PdKvTransfer(
                    config, engineId, null, null, client, null, "nixl", new ArrayList<>(List.of(client)));
        } catch (NixlException e) {
            throw new KvTransferConfigException("NIXL could not start: " + e.getMessage());
        }
    }

    private static String compatHash(
            KvTransferConfig.Vllm v, EngineCore engine, String model, VllmWireVersion version) {
        var layout = engine.layout();
        return new VllmCompatHash(
                        v.version() == null ? "unknown" : v.version(),
                        model,
                        "torch.bfloat16",
                        layout.kvHeads(),
                        layout.headDim(),
                        layout.layers(),
                        v.attnBackend(),
                        "auto")
                .hex(version, v.hmaEnabled());
    }

    /** Whether this prefill node speaks vLLM's NixlConnector wire. */
    public boolean speaksVllm() {
        return vllm != null;
    }

    /**
     * On vLLM's wire: copies the prompt KV held for {@code requestId} into the vLLM-layout area, lets the engine's
     * blocks go (the copy is what the decode node reads), and answers vLLM's {@code kv_transfer_params}; null when
     * nothing is held or the area is full (the decode node then prefills by itself).
     */
    public ObjectNode vllmHeldParams(String requestId) {
        KvLeaseRegistry.Lease lease = engine.leases().get(requestId);
        if (lease == null) {
            return null;
        }
        int[] ids;
        try {
            KvBlocks blocks = engine.read(requestId, lease.promptBlockIds(), lease.promptTokens());
            ids = vllm.hold(requestId, blocks, lease.promptTokens());
        } catch (KvTransferException e) {
            LOG.warn("[{}] no KV for a vLLM decode node: {}", requestId, e.getMessage());
            return null;
        } finally {
            engine.release(requestId);
        }
        if (vllm.wire() == VllmWireVersion.V12) {
            return KvTransferParams.heldPerGroup(
                            engineId, ids, requestId, advertisedHost, vllmSideChannel.port(), lease.promptTokens())
                    .toJson();
        }
        return KvTransferParams.held(engineId, ids, requestId, advertisedHost, vllmSideChannel.port())
                .toJson();
    }

    /** The vLLM-wire producer, or null (for tests and metrics). */
    public VllmNixlProducer vllmProducer() {
        return vllm;
    }

    /** The NIXL library when this node should and can use it; a clear error when it must and cannot. */
    private static Optional<NixlLibrary> nixlLibrary(KvTransferConfig config) {
        if (!config.wantsNixl()) {
            return Optional.empty();
        }
        Optional<NixlLibrary> lib = NixlLibrary.find();
        if (lib.isEmpty()) {
            if (config.transport() == KvTransferConfig.Transport.NIXL) {
                NixlLibrary.require(); // throws, saying where it looked
            }
            LOG.info(
                    "kv_connector NixlConnector: libnixl_capi not found ({}); blocks travel over JEPD's TCP side"
                            + " channel instead",
                    NixlLibrary.absentReason());
        }
        return lib;
    }

    private static void closeAll(List<AutoCloseable> owned) {
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (Exception e) {
                LOG.warn("closing {} failed: {}", owned.get(i), e.toString());
            }
        }
    }

    public KvTransferConfig config() {
        return config;
    }

    public String engineId() {
        return engineId;
    }

    /** The host decode nodes are told to reach the side channel at. */
    public String advertisedHost() {
        return advertisedHost;
    }

    /** The side channel's bound port (vLLM's ZMQ one on vLLM's wire); -1 on a consumer-only node. */
    public int sideChannelPort() {
        if (vllmSideChannel != null) {
            return vllmSideChannel.port();
        }
        return server == null ? -1 : server.port();
    }

    /** {@code nixl} or {@code tcp}: what this node reads and serves blocks with. */
    public String transportName() {
        return transportName;
    }

    /** Pulls this decode node made with NIXL since start. */
    public long nixlPulls() {
        if (transport instanceof VllmNixlClient v) {
            return v.pulls();
        }
        return transport instanceof NixlKvClient c ? c.nixlPulls() : 0;
    }

    /** Pulls this decode node made with NIXL straight into its own cache (no staging) since start. */
    public long directPulls() {
        return transport instanceof NixlKvClient c ? c.directPulls() : 0;
    }

    /** Held prompts this prefill node copied into its NIXL staging buffer since start. */
    public long stagedCopies() {
        return producer == null ? 0 : producer.stagedCopies();
    }

    /** The client; null on a producer-only node. */
    public KvTransport transport() {
        return transport;
    }

    @Override
    public void close() {
        closeAll(owned);
    }
}
