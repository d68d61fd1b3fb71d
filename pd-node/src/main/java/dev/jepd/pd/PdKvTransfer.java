package dev.jepd.pd;

import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.generate.EngineCore;
import dev.jepd.ffi.nixl.NixlException;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.transfer.kv.JepdKvClient;
import dev.jepd.transfer.kv.JepdKvServer;
import dev.jepd.transfer.kv.KvTransferConfig;
import dev.jepd.transfer.kv.KvTransferConfigException;
import dev.jepd.transfer.kv.KvTransport;
import dev.jepd.transfer.nixl.NixlKvClient;
import dev.jepd.transfer.nixl.NixlKvProducer;
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
 * {@link KvTransferConfig}) the producer also stages blocks for NIXL reads and the consumer reads with NIXL.
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
        String engineId = config.engineId() != null
                ? config.engineId()
                : UUID.randomUUID().toString();
        String advertised = config.sideChannelHost() != null
                ? config.sideChannelHost()
                : (listenHost.equals("0.0.0.0") || listenHost.equals("::") ? "127.0.0.1" : listenHost);
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

    /** The side channel's bound port; -1 on a consumer-only node. */
    public int sideChannelPort() {
        return server == null ? -1 : server.port();
    }

    /** {@code nixl} or {@code tcp}: what this node reads and serves blocks with. */
    public String transportName() {
        return transportName;
    }

    /** Pulls this decode node made with NIXL since start. */
    public long nixlPulls() {
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
