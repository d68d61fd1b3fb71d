package dev.jepd.pd;

import dev.jepd.engine.generate.EngineCore;
import dev.jepd.engine.kv.transfer.JepdKvClient;
import dev.jepd.engine.kv.transfer.JepdKvServer;
import dev.jepd.engine.kv.transfer.KvTransferConfig;
import dev.jepd.engine.kv.transfer.KvTransport;
import java.io.IOException;
import java.time.Duration;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A PD node's part in prefill/decode disaggregation, from its {@code --kv-transfer-config}: as a producer it runs
 * the side channel that serves held blocks; as a consumer it pulls them. {@code kv_both} does both.
 */
public final class PdKvTransfer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PdKvTransfer.class);
    private static final Duration MAX_CONNECT = Duration.ofSeconds(5);

    private final KvTransferConfig config;
    private final String engineId;
    private final String advertisedHost;
    private final JepdKvServer server;
    private final KvTransport transport;

    private PdKvTransfer(
            KvTransferConfig config, String engineId, String advertisedHost, JepdKvServer server, KvTransport t) {
        this.config = config;
        this.engineId = engineId;
        this.advertisedHost = advertisedHost;
        this.server = server;
        this.transport = t;
    }

    /** Starts the side channel (producers) on {@code listenHost}, and the client (consumers). */
    public static PdKvTransfer start(KvTransferConfig config, EngineCore engine, String listenHost) throws IOException {
        String engineId = config.engineId() != null
                ? config.engineId()
                : UUID.randomUUID().toString();
        String advertised = config.sideChannelHost() != null
                ? config.sideChannelHost()
                : (listenHost.equals("0.0.0.0") || listenHost.equals("::") ? "127.0.0.1" : listenHost);
        if ("NixlConnector".equals(config.connector())) {
            LOG.info("kv_connector NixlConnector: blocks travel over JEPD's own side channel (NIXL through Panama"
                    + " is not implemented); peers must be JEPD nodes");
        }
        JepdKvServer server = config.isProducer()
                ? new JepdKvServer(engine, engineId, listenHost, config.sideChannelPort(), config.transferTimeout())
                : null;
        Duration connect = config.transferTimeout().compareTo(MAX_CONNECT) < 0 ? config.transferTimeout() : MAX_CONNECT;
        KvTransport client = config.isConsumer() ? new JepdKvClient(connect, config.transferTimeout()) : null;
        return new PdKvTransfer(config, engineId, advertised, server, client);
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

    /** The client; null on a producer-only node. */
    public KvTransport transport() {
        return transport;
    }

    @Override
    public void close() {
        if (server != null) {
            server.close();
        }
    }
}
