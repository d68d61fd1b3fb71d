package dev.jepd.transfer.vllm;

import dev.jepd.engine.connector.EcEntry;
import dev.jepd.engine.connector.EcStoreException;
import dev.jepd.engine.connector.EcTransferParams;
import dev.jepd.ffi.NativeMemory;
import dev.jepd.ffi.nixl.NixlAgent;
import dev.jepd.ffi.nixl.NixlException;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.tensor.DType;
import dev.jepd.transfer.ec.CountingEcConnector;
import dev.jepd.transfer.ec.EcTransferConfig;
import dev.jepd.transfer.ec.PulledEntries;
import dev.jepd.transfer.nixl.RegisteredArea;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;
import org.zeromq.ZMsg;

/**
 * vLLM's {@code ECCPUConnector} in its P2P NIXL mode ({@code "ec_enable_nixl": true}), both roles, on vLLM's wire
 * ({@link VllmEcWire}), so that a JEPD encoder feeds a vLLM PD node and a vLLM encoder feeds a JEPD PD node.
 *
 * <p><b>Producer</b> (encoder node): one CPU region of {@code ec_cpu_bytes}, registered with NIXL once and cut into
 * blocks of {@code blockBytes}; each item's bf16 rows are written across as many blocks as they fill (the tail of the
 * last one unwritten, as vLLM's). {@link #publish} answers vLLM's announcement ({@code peer_host}, {@code peer_port},
 * {@code size_bytes} = whole blocks, and on wire 2 {@code shape}). A ZMQ ROUTER at the side channel answers each
 * consumer's {@code XferReq} with the item's block indices, the NIXL agent metadata and the region's
 * {@code mem_descriptor}, and pins the item until the consumer's READ notification {@code "session:mm_hash"} arrives
 * or {@link VllmEcWire#PRODUCER_PIN_LEASE_S} pass. Items are evicted least recently used when the region is full;
 * a pinned one never.
 *
 * <p><b>Consumer</b> (PD node): for an item announced so ({@link EcTransferParams#isVllmCpu()}), one DEALER per
 * producer (one session id per connection, as vLLM's), an {@code XferReq}, then one NIXL READ of the granted blocks
 * into a registered receive area carrying the completion notification; the first {@code rows × width} bf16 values
 * are the item. Any failure (unreachable producer, NACK, size or shape not the request's, a failed read) is a miss:
 * the node encodes the item itself, as vLLM's wire-1 consumer does. Pulled items stay in an LRU of {@code ec_cpu_bytes}.
 *
 * <p>The block size is a factor of the compatibility hash, and vLLM derives it from the model: wire 2
 * {@code get_inputs_embeds_size() × 2} (the text hidden size), wire 1 the encoder output's width × 2 (its DeepStack
 * levels included). The hash also needs the paired vLLM's version string ({@code vllm_version}) and the model as
 * that node was started with it; {@code vllm_compat_hash} gives the hash itself.
 */
public final class VllmEcCpuConnector extends CountingEcConnector implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VllmEcCpuConnector.class);
    private static final List<String> UCX = List.of("UCX");
    private static final String DTYPE = "torch.bfloat16";
    /** JEPD's own version factor when no {@code vllm_version} is set: JEPD nodes agree; a stock vLLM refuses it. */
    static final String JEPD_VERSION_FACTOR = "jepd";
    /** How long a consumer's NIXL READ may take (vLLM's {@code _CONSUMER_READ_TIMEOUT_S}). */
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(20);
    /** How long the check that a producer not known to be connected is there may take. */
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    /**
     * The longest a consumer waits on one DEALER before it asks again on a new one. Not much sooner: every answer
     * carries the producer's whole {@code mem_descriptor} (14 bytes a block, megabytes for a large region), and
     * answers to eager repeats would queue behind each other.
     */
    private static final long MAX_SILENCE_NANOS = 5_000_000_000L;

    private final String agentName;
    private final NixlAgent agent;
    private final long blockBytes;
    private final int wireVersion;
    private final String compatHash;
    private final ZContext zmq = new ZContext();
    private final AtomicLong pulls = new AtomicLong();
    private volatile boolean open = true;

    private final Producer producer; // null on a pure consumer
    private final Consumer consumer; // null on a pure producer

    private VllmEcCpuConnector(
            NixlLibrary lib, EcTransferConfig config, String model, long blockBytes, String compatHashOverride) {
        this.blockBytes = blockBytes;
        this.wireVersion = config.vllmEcWireVersion();
        this.agentName = config.engineId() != null && !config.engineId().isBlank()
                ? config.engineId()
                : UUID.randomUUID().toString();
        String version = config.vllmVersion() != null ? config.vllmVersion() : JEPD_VERSION_FACTOR;
        this.compatHash = compatHashOverride != null
                ? compatHashOverride
                : VllmEcWire.compatibilityHash(version, model, DTYPE, blockBytes);
        this.agent = NixlAgent.create(lib, agentName, UCX);
        Producer p = null;
        Consumer c = null;
        try {
            if (config.isProducer()) {
                p = new Producer(config);
            }
            if (config.isConsumer()) {
                c = new Consumer(config);
            }
        } catch (RuntimeException e) {
            if (p != null) {
                p.close();
            }
            agent.close();
            zmq.close();
            throw e;
        }
        this.producer = p;
        this.consumer = c;
        LOG.info(
                "ECCPUConnector (P2P NIXL, wire {}): agent {}, blocks of {} bytes, compatibility hash {} ({}, {}, {}){}{}",
                wireVersion,
                agentName,
                blockBytes,
                compatHash,
                compatHashOverride != null ? "given" : version,
                model,
                DTYPE,
                p == null ? "" : "; producer: " + p.numBlocks + " blocks at " + p.advertisedHost + ":" + p.port,
                c == null ? "" : "; consumer: " + config.ecCpuBytes() + " bytes of pulled items");
        if (config.vllmVersion() == null && compatHashOverride == null) {
            LOG.warn(
                    "ECCPUConnector: no ec_connector_extra_config.vllm_version: the compatibility hash uses \"{}\", which"
                            + " JEPD nodes share but a stock vLLM peer refuses (NACK_INCOMPAT); set it to that vLLM's"
                            + " version string (vllm.__version__), or vllm_compat_hash to its hash",
                    JEPD_VERSION_FACTOR);
        }
    }

    /**
     * Opens the connector {@code config} names ({@link EcTransferConfig#isVllmCpu()}).
     *
     * @param model the model as this node was started with it (a factor of the compatibility hash)
     * @param hiddenSize the language model's hidden size (the block width on wire 2)
     * @param itemWidth the width of an item's rows, DeepStack levels included (the block width on wire 1)
     */
    public static VllmEcCpuConnector open(
            NixlLibrary lib, EcTransferConfig config, String model, int hiddenSize, int itemWidth) {
        long width = config.vllmEcWireVersion() == 1 ? itemWidth : hiddenSize;
        return new VllmEcCpuConnector(lib, config, model, width * DType.BF16.byteSize(), config.vllmCompatHash());
    }

    /** The hash this node sends and expects. */
    public String compatibilityHash() {
        return compatHash;
    }

    /** The producer's side-channel port (the bound one where 0 was asked); 0 on a consumer. */
    public int sideChannelPort() {
        return producer == null ? 0 : producer.port;
    }

    /** Items read from producers with NIXL, since start. */
    public long pulls() {
        return pulls.get();
    }

    /** Producer: items pinned by a grant whose READ has not been confirmed. */
    public int pinnedItems() {
        return producer == null ? 0 : producer.pinned();
    }

    @Override
    public boolean contains(String key) {
        if (producer != null && producer.has(key)) {
            return true;
        }
        return consumer != null && consumer.peek(key) != null;
    }

    @Override
    public Optional<EcTransferParams> held(String key) {
        return producer == null ? Optional.empty() : producer.params(key);
    }

    @Override
    public Optional<EcEntry> load(String key, int expectedTokens, int expectedDim) {
        EcEntry e = consumer == null ? null : consumer.peek(key);
        if (e == null || e.numTokens() != expectedTokens || e.dim() != expectedDim) {
            misses.incrementAndGet();
            return Optional.empty();
        }
        hits.incrementAndGet();
        return Optional.of(e);
    }

    @Override
    public Optional<EcEntry> lookup(String key, EcTransferParams params, int expectedTokens, int expectedDim) {
        if (consumer == null || !params.isVllmCpu()) {
            return load(key, expectedTokens, expectedDim);
        }
        EcEntry kept = consumer.peek(key);
        if (kept != null && kept.numTokens() == expectedTokens && kept.dim() == expectedDim) {
            hits.incrementAndGet();
            return Optional.of(kept);
        }
        Optional<EcEntry> pulled = consumer.pull(key, params, expectedTokens, expectedDim);
        (pulled.isPresent() ? hits : misses).incrementAndGet();
        return pulled;
    }

    @Override
    public void save(String key, float[] rows, int numTokens, int dim) {
        publish(key, rows, numTokens, dim);
    }

    @Override
    public EcTransferParams publish(String key, float[] rows, int numTokens, int dim) {
        if (producer == null) {
            if (consumer != null) {
                return EcTransferParams.none(); // a consumer that encoded locally keeps nothing to offer
            }
            throw new EcStoreException("this node is not an EC producer (ec_role)", null);
        }
        EcTransferParams p = producer.store(key, rows, numTokens, dim);
        saves.incrementAndGet();
        return p;
    }

    @Override
    public long bytesStored() {
        return (producer == null ? 0 : producer.bytesStored()) + (consumer == null ? 0 : consumer.bytesStored());
    }

    @Override
    public void close() {
        open = false;
        if (producer != null) {
            producer.close();
        }
        if (consumer != null) {
            consumer.close();
        }
        zmq.close();
        agent.close();
    }

    private int blocksFor(long bytes) {
        return Math.toIntExact((bytes + blockBytes - 1) / blockBytes);
    }

    /** The producer's half: the region, its items, the side channel and the pins. */
    private final class Producer {
        private final NativeMemory region;
        private final NixlAgent.Registration registration;
        private final int numBlocks;
        /** The agent metadata and the {@code mem_descriptor} of every block, encoded once for every grant. */
        private final VllmEcWire.Tail grantTail;

        private final ArrayDeque<Integer> free = new ArrayDeque<>();
        /** Access-ordered: eviction starts at the least recently used. Guarded by this Producer. */
        private final LinkedHashMap<String, Item> items = new LinkedHashMap<>(64, 0.75f, true);
        /** Grants by {@code "session:mm_hash"}; touched by the listener thread only. */
        private final Map<String, Grant> grants = new HashMap<>();

        private final ZMQ.Socket router;
        private final String advertisedHost;
        private final int port;
        private final Thread listener;

        Producer(EcTransferConfig config) {
            long want = config.ecCpuBytes();
            long n = want / blockBytes;
            if (n < 1 || n > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("ec_cpu_bytes " + want + " holds " + n + " blocks of " + blockBytes
                        + " bytes; it needs at least one (and under 2^31)");
            }
            this.numBlocks = (int) n;
            this.region = NativeMemory.allocate(numBlocks * blockBytes);
            NixlAgent.Registration reg = null;
            ZMQ.Socket s = null;
            try {
                reg = agent.registerDram(region.segment());
                this.grantTail = VllmEcWire.Tail.of(
                        agent.localMetadata(), VllmEcWire.encodeMemDescriptor(region.address(), blockBytes, numBlocks));
                for (int i = numBlocks - 1; i >= 0; i--) {
                    free.push(i); // pops ascending, as vLLM's LIFO free list starts
                }
                this.advertisedHost = config.sideChannelHost();
                s = zmq.createSocket(SocketType.ROUTER);
                s.setLinger(0);
                s.setReceiveTimeOut(2);
                String endpoint =
                        "tcp://" + (advertisedHost.contains(":") ? "[" + advertisedHost + "]" : advertisedHost);
                int asked = config.sideChannelPort();
                this.port = asked == 0 ? s.bindToRandomPort(endpoint) : bind(s, endpoint, asked);
            } catch (RuntimeException e) {
                if (s != null) {
                    s.close();
                }
                if (reg != null) {
                    reg.close();
                }
                region.close();
                throw e;
            }
            this.registration = reg;
            this.router = s;
            this.listener = Thread.ofPlatform()
                    .name("jepd-ec-cpu-side-channel-" + port)
                    .daemon()
                    .start(this::listen);
        }

        private static int bind(ZMQ.Socket s, String endpoint, int port) {
            s.bind(endpoint + ":" + port);
            return port;
        }

        synchronized boolean has(String key) {
            return items.containsKey(key);
        }

        synchronized Optional<EcTransferParams> params(String key) {
            Item it = items.get(key);
            return it == null ? Optional.empty() : Optional.of(it.params);
        }

        synchronized int pinned() {
            int n = 0;
            for (Item it : items.values()) {
                n += it.pins > 0 ? 1 : 0;
            }
            return n;
        }

        synchronized long bytesStored() {
            long b = 0;
            for (Item it : items.values()) {
                b += it.blocks.length * blockBytes;
            }
            return b;
        }

        /** Writes the item into free (or freed) blocks and answers its announcement; a repeat keeps its blocks. */
        EcTransferParams store(String key, float[] rows, int tokens, int dim) {
            long bytes = (long) tokens * dim * DType.BF16.byteSize();
            int n = blocksFor(bytes);
            int[] blocks;
            synchronized (this) {
                Item old = items.get(key);
                if (old != null && old.tokens == tokens && old.dim == dim) {
                    return old.params;
                }
                if (old != null && old.pins > 0) {
                    throw new EcStoreException("EC item " + key + " is being read with another shape", null);
                }
                if (old != null) {
                    release(key, old);
                }
                blocks = take(n, key);
            }
            // Outside the lock: the blocks are ours alone until the item is listed.
            long perBlock = blockBytes / DType.BF16.byteSize();
            int total = rows.length;
            for (int i = 0; i < n; i++) {
                int from = Math.toIntExact(i * perBlock);
                int count = (int) Math.min(perBlock, total - from);
                DType.BF16.setFloats(region.segment(), blocks[i] * perBlock, rows, from, count);
            }
            EcTransferParams params = EcTransferParams.vllmCpu(
                    advertisedHost,
                    port,
                    wireVersion == 1 ? bytes : n * blockBytes,
                    wireVersion == 1 ? null : List.of((long) tokens, (long) dim),
                    Map.of());
            synchronized (this) {
                items.put(key, new Item(blocks, tokens, dim, params));
            }
            return params;
        }

        /** {@code n} free blocks, evicting unpinned items least recently used first. Holds the lock. */
        private int[] take(int n, String key) {
            if (n > numBlocks) {
                throw new EcStoreException(
                        "EC item " + key + " needs " + n + " blocks of " + blockBytes
                                + " bytes, more than ec_cpu_bytes holds (" + numBlocks + ")",
                        null);
            }
            Iterator<Map.Entry<String, Item>> it = items.entrySet().iterator();
            while (free.size() < n && it.hasNext()) {
                Map.Entry<String, Item> e = it.next();
                if (e.getValue().pins == 0) {
                    it.remove();
                    giveBack(e.getValue().blocks);
                    evictions.incrementAndGet();
                }
            }
            if (free.size() < n) {
                throw new EcStoreException(
                        "EC item " + key + " needs " + n + " blocks; the rest are being read by"
                                + " consumers (raise ec_cpu_bytes)",
                        null);
            }
            int[] out = new int[n];
            for (int i = 0; i < n; i++) {
                out[i] = free.pop();
            }
            return out;
        }

        private void release(String key, Item it) {
            items.remove(key);
            giveBack(it.blocks);
        }

        /** Last block first, so that the next item pops them in ascending runs again (one READ descriptor each). */
        private void giveBack(int[] blocks) {
            for (int i = blocks.length - 1; i >= 0; i--) {
                free.push(blocks[i]);
            }
        }

        private void listen() {
            while (open) {
                try {
                    ZMsg msg = ZMsg.recvMsg(router);
                    if (msg != null) {
                        answer(msg);
                    }
                    for (NixlAgent.Notification n : agent.takeNotifications()) {
                        Grant g = grants.remove(n.text());
                        if (g != null) {
                            unpin(g.item);
                        }
                    }
                    expireGrants(System.nanoTime());
                } catch (RuntimeException e) {
                    if (open) {
                        LOG.warn("ECCPUConnector side channel: {}", e.toString());
                        LockSupport.parkNanos(1_000_000);
                    }
                }
            }
            router.close();
        }

        private void answer(ZMsg msg) {
            RouterEnvelope request = RouterEnvelope.of(msg, LOG, "ECCPUConnector side channel");
            if (request == null) {
                return;
            }
            VllmEcWire.XferReq req;
            try {
                req = VllmEcWire.XferReq.decode(request.payload());
            } catch (VllmNixlWire.WireException e) {
                LOG.warn("ECCPUConnector side channel: a bad XferReq: {}", e.getMessage()); // vLLM: dropped, no reply
                return;
            }
            request.answer(router, grant(req));
        }

        /** vLLM's order of checks: version, hash, session, presence; then pin and grant. */
        private byte[] grant(VllmEcWire.XferReq req) {
            String h = req.mmHash();
            if (req.connectorVersion() != null && req.connectorVersion() != wireVersion) {
                LOG.warn(
                        "ECCPUConnector: {} asked on wire {}, this node speaks {} (vllm_ec_wire_version)",
                        h,
                        req.connectorVersion(),
                        wireVersion);
                return VllmEcWire.XferAck.nack(h, VllmEcWire.Status.NACK_VERSION)
                        .encode();
            }
            if (!compatHash.equals(req.compatibilityHash())) {
                LOG.warn(
                        "ECCPUConnector: a consumer's compatibility hash {} is not this node's {} (its vLLM version,"
                                + " model, dtype or block size differ; see vllm_version / vllm_compat_hash)",
                        req.compatibilityHash(),
                        compatHash);
                return VllmEcWire.XferAck.nack(h, VllmEcWire.Status.NACK_INCOMPAT)
                        .encode();
            }
            if (req.sessionId().isEmpty()) {
                return VllmEcWire.XferAck.nack(h, VllmEcWire.Status.NACK_INTERNAL)
                        .encode();
            }
            Item item;
            synchronized (this) {
                item = items.get(h);
                if (item == null) {
                    return VllmEcWire.XferAck.nack(h, VllmEcWire.Status.NACK_MISSING)
                            .encode();
                }
                item.pins++;
            }
            String key = req.sessionId() + ":" + h;
            Grant old = grants.put(
                    key, new Grant(item, System.nanoTime() + (long) (VllmEcWire.PRODUCER_PIN_LEASE_S * 1e9)));
            if (old != null) {
                unpin(old.item); // the same consumer asked again: one pin per grant
            }
            long[] blocks = new long[item.blocks.length];
            for (int i = 0; i < blocks.length; i++) {
                blocks[i] = item.blocks[i];
            }
            return VllmEcWire.XferAck.encodeOk(h, req.sessionId(), blocks, grantTail);
        }

        private synchronized void unpin(Item it) {
            it.pins--;
        }

        private void expireGrants(long now) {
            for (Iterator<Map.Entry<String, Grant>> it = grants.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<String, Grant> e = it.next();
                if (now - e.getValue().deadline > 0) {
                    it.remove();
                    unpin(e.getValue().item);
                    LOG.warn(
                            "ECCPUConnector: no read notification for {} within {} s; unpinned",
                            e.getKey(),
                            VllmEcWire.PRODUCER_PIN_LEASE_S);
                }
            }
        }

        void close() {
            try {
                listener.join(2_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try {
                registration.close();
            } finally {
                region.close();
            }
        }
    }

    private static final class Item {
        final int[] blocks;
        final int tokens;
        final int dim;
        final EcTransferParams params;
        int pins; // guarded by the Producer

        Item(int[] blocks, int tokens, int dim, EcTransferParams params) {
            this.blocks = blocks;
            this.tokens = tokens;
            this.dim = dim;
            this.params = params;
        }
    }

    private record Grant(Item item, long deadline) {}

    /** The consumer's half: one session per producer, the receive area, the pulled items. */
    private final class Consumer {
        private final RegisteredArea receive;
        private final Duration ackTimeout;
        private final Map<String, Session> sessions = new ConcurrentHashMap<>();
        private final PulledEntries pulled;

        Consumer(EcTransferConfig config) {
            long capacity = config.ecCpuBytes();
            this.pulled = new PulledEntries(capacity, evictions::incrementAndGet);
            this.receive = new RegisteredArea(agent, capacity);
            this.ackTimeout = config.consumerAckTimeout();
        }

        EcEntry peek(String key) {
            return pulled.get(key);
        }

        long bytesStored() {
            return pulled.bytes();
        }

        Optional<EcEntry> pull(String key, EcTransferParams p, int tokens, int dim) {
            long bytes = (long) tokens * dim * DType.BF16.byteSize();
            int n = blocksFor(bytes);
            long expectedSize = wireVersion == 1 ? bytes : n * blockBytes;
            if (p.sizeBytes() != expectedSize
                    || (p.shape() != null && !p.shape().equals(List.of((long) tokens, (long) dim)))) {
                LOG.warn(
                        "EC item {}: the producer announced {} bytes, shape {}; this request needs [{}, {}] ({} bytes"
                                + " in blocks of {}): encoding it here",
                        key,
                        p.sizeBytes(),
                        p.shape(),
                        tokens,
                        dim,
                        expectedSize,
                        blockBytes);
                return Optional.empty();
            }
            Session s = sessions.computeIfAbsent(
                    p.peerHost() + ":" + p.peerPort(), a -> new Session(p.peerHost(), p.peerPort()));
            try {
                float[] rows = s.pull(key, n, tokens * dim);
                pulls.incrementAndGet();
                EcEntry e = new EcEntry(key, tokens, dim, rows);
                pulled.put(e);
                return Optional.of(e);
            } catch (PullFailed | NixlException | VllmNixlWire.WireException e) {
                LOG.warn(
                        "EC item {} from {}:{}: {}; encoding it here", key, p.peerHost(), p.peerPort(), e.getMessage());
                return Optional.empty();
            }
        }

        void close() {
            for (Session s : sessions.values()) {
                s.close();
            }
            receive.close();
        }

        /**
         * One producer: a DEALER with vLLM's heartbeats, one session id for the connection's life, the producer's
         * agent as last loaded. One transfer at a time (the socket is not thread-safe).
         */
        private final class Session {
            private final String where;
            private final String host;
            private final int port;
            private ZMQ.Socket dealer;
            private ZMQ.Socket monitor;
            private final String sessionId = UUID.randomUUID().toString();
            private boolean connected;
            /** Counts connections made, so that a request is sent again on a new one. */
            private int connection;

            private byte[] loadedMetadata;
            private String loadedAgent;
            private byte[] decodedFrom;
            private List<VllmEcWire.RemoteBlock> remoteBlocks;

            Session(String host, int port) {
                this.where = host + ":" + port;
                this.host = host;
                this.port = port;
                open();
            }

            /** A DEALER with vLLM's heartbeat options, its monitor, and its connection started. */
            private void open() {
                dealer = zmq.createSocket(SocketType.DEALER);
                dealer.setLinger(0);
                dealer.setHeartbeatIvl(2000);
                dealer.setHeartbeatTimeout(4000);
                dealer.setHeartbeatTtl(8000);
                String inproc = "inproc://jepd-ec-peer-mon-" + UUID.randomUUID();
                dealer.monitor(inproc, ZMQ.EVENT_CONNECTED | ZMQ.EVENT_DISCONNECTED);
                monitor = zmq.createSocket(SocketType.PAIR);
                monitor.connect(inproc);
                monitor.setReceiveTimeOut(0);
                connected = false;
                dealer.connect("tcp://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port);
            }

            /**
             * A new DEALER in place of one whose request went unanswered: JeroMQ was seen to lose a DEALER's first
             * messages on a loaded machine (CI: nothing answered in 30 s on that socket while a new one got its
             * answer at once). Answers still queued for the old socket go with it.
             */
            private void reopen() {
                zmq.destroySocket(dealer);
                zmq.destroySocket(monitor);
                open();
            }

            synchronized float[] pull(String mmHash, int n, int values) {
                VllmEcWire.XferAck ack = ask(mmHash);
                if (ack.status() != VllmEcWire.Status.OK) {
                    throw new PullFailed("the producer answered " + ack.status());
                }
                if (ack.srcBlockIndices().length != n) {
                    throw new PullFailed("the producer granted " + ack.srcBlockIndices().length + " blocks, the"
                            + " announcement " + n);
                }
                String peer = load(ack.agentMetadata());
                if (!Arrays.equals(decodedFrom, ack.memDescriptor())) {
                    remoteBlocks = VllmEcWire.decodeMemDescriptor(ack.memDescriptor());
                    decodedFrom = ack.memDescriptor();
                }
                OptionalLong at = receive.allocate(n * blockBytes);
                if (at.isEmpty()) {
                    throw new PullFailed("no room for " + n * blockBytes + " bytes in the receive area (ec_cpu_bytes)");
                }
                try {
                    // One descriptor per run of blocks adjacent on both sides: a producer's blocks are mostly
                    // ascending runs, and UCX pays per descriptor (bench kv: 9,000 blocks cost 2x one run).
                    long[] local = new long[n];
                    long[] remote = new long[n];
                    long[] lengths = new long[n];
                    int runs = 0;
                    for (int k = 0; k < n; k++) {
                        long b = ack.srcBlockIndices()[k];
                        if (b < 0
                                || b >= remoteBlocks.size()
                                || remoteBlocks.get((int) b).bytes() != blockBytes) {
                            throw new PullFailed("block " + b + " is not one of the producer's " + remoteBlocks.size()
                                    + " blocks of " + blockBytes + " bytes");
                        }
                        long l = receive.address(at.getAsLong()) + k * blockBytes;
                        long r = remoteBlocks.get((int) b).address();
                        if (runs > 0
                                && local[runs - 1] + lengths[runs - 1] == l
                                && remote[runs - 1] + lengths[runs - 1] == r) {
                            lengths[runs - 1] += blockBytes;
                        } else {
                            local[runs] = l;
                            remote[runs] = r;
                            lengths[runs] = blockBytes;
                            runs++;
                        }
                    }
                    try (NixlAgent.Transfer read = agent.read(
                            Arrays.copyOf(local, runs),
                            Arrays.copyOf(remote, runs),
                            Arrays.copyOf(lengths, runs),
                            peer,
                            VllmEcWire.completion(sessionId, mmHash))) {
                        if (!read.await(READ_TIMEOUT)) {
                            throw new PullFailed(
                                    "the NIXL read did not finish within " + READ_TIMEOUT.toSeconds() + " s");
                        }
                    }
                    float[] rows = new float[values];
                    DType.BF16.getFloats(receive.slice(at.getAsLong(), n * blockBytes), 0, rows, 0, values);
                    return rows;
                } finally {
                    receive.free(at.getAsLong());
                }
            }

            /**
             * Sends the request until an answer for this item comes: at once (the DEALER queues it until its
             * connection is up), again on each new connection, and on a new DEALER when one stays silent (after 1 s,
             * doubling to {@link #MAX_SILENCE_NANOS}). Repeats are idempotent: a repeat grant replaces the pin. The socket
             * monitor's events only add: they can be lost on a loaded machine, so nothing waits for them.
             */
            private VllmEcWire.XferAck ask(String mmHash) {
                watch();
                if (!connected) {
                    probe(); // a producer that is gone is given up now, not after the ack timeout
                }
                byte[] req = new VllmEcWire.XferReq(mmHash, compatHash, sessionId, null).encode();
                long deadline = System.nanoTime() + ackTimeout.toNanos();
                long sent = Long.MIN_VALUE;
                int sentOn = -1;
                long silence = 1_000_000_000L;
                while (true) {
                    long now = System.nanoTime();
                    watch();
                    if (now - deadline > 0) {
                        throw new PullFailed(
                                "no answer within consumer_ack_timeout_s (" + ackTimeout.toMillis() + " ms)");
                    }
                    if (sent != Long.MIN_VALUE && now - sent > silence) {
                        LOG.info(
                                "ECCPUConnector: no answer from {} in {} ms; asking again on a new connection",
                                where,
                                silence / 1_000_000);
                        reopen();
                        silence = Math.min(2 * silence, MAX_SILENCE_NANOS);
                        sent = Long.MIN_VALUE;
                    }
                    if (sent == Long.MIN_VALUE || sentOn != connection) {
                        ZMsg m = new ZMsg();
                        m.add(new byte[0]);
                        m.add(req);
                        m.send(dealer);
                        sent = now;
                        sentOn = connection;
                    }
                    ZMsg reply = dealerReceive();
                    if (reply == null) {
                        continue;
                    }
                    if (reply.size() != 2 || reply.getFirst().size() != 0) {
                        LOG.warn("ECCPUConnector: a malformed frame envelope from {}", where);
                        continue;
                    }
                    reply.pop();
                    VllmEcWire.XferAck ack =
                            VllmEcWire.XferAck.decode(reply.pop().getData());
                    if (!ack.mmHash().equals(mmHash)) {
                        continue; // an answer to an earlier request that timed out
                    }
                    if (ack.status() == VllmEcWire.Status.NACK_NOT_READY) {
                        LockSupport.parkNanos(20_000_000);
                        sent = Long.MIN_VALUE; // ask again
                        continue;
                    }
                    return ack;
                }
            }

            private ZMsg dealerReceive() {
                dealer.setReceiveTimeOut(connected ? 20 : 5);
                return ZMsg.recvMsg(dealer);
            }

            /** One plain TCP connect to the side channel: refused (or silent) means the producer is gone. */
            private void probe() {
                try (java.net.Socket s = new java.net.Socket()) {
                    s.connect(new java.net.InetSocketAddress(host, port), (int) CONNECT_TIMEOUT.toMillis());
                } catch (java.io.IOException e) {
                    throw new PullFailed(
                            "the producer's side channel at " + where + " does not accept connections: " + e);
                }
            }

            /**
             * Reads the socket monitor: whether connected, and a count of connections (a request is sent again on a
             * new one). The session id stays the DEALER's for its life, so a request sent again and the READ's
             * notification always name the same grant.
             */
            private void watch() {
                ZMQ.Event e;
                while ((e = ZMQ.Event.recv(monitor, ZMQ.DONTWAIT)) != null) {
                    if (e.getEvent() == ZMQ.EVENT_CONNECTED) {
                        connected = true;
                        connection++;
                    } else if (e.getEvent() == ZMQ.EVENT_DISCONNECTED) {
                        connected = false;
                    }
                }
            }

            /** Loads the producer's agent unless these exact bytes are loaded; a restarted producer is reloaded. */
            private String load(byte[] metadata) {
                if (Arrays.equals(loadedMetadata, metadata)) {
                    return loadedAgent;
                }
                if (loadedAgent != null) {
                    agent.invalidateRemote(loadedAgent);
                }
                String name;
                try {
                    name = agent.loadRemote(metadata);
                } catch (NixlException first) {
                    if (loadedAgent == null) {
                        throw first;
                    }
                    name = agent.loadRemote(metadata);
                }
                loadedAgent = name;
                loadedMetadata = metadata;
                return name;
            }

            synchronized void close() {
                zmq.destroySocket(dealer);
                zmq.destroySocket(monitor);
            }
        }
    }

    /** A pull that did not deliver the item; the node encodes it itself. */
    private static final class PullFailed extends RuntimeException {
        PullFailed(String message) {
            super(message);
        }
    }
}
