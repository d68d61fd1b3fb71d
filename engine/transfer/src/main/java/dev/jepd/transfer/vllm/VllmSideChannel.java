package dev.jepd.transfer.vllm;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;
import org.zeromq.ZMsg;

/**
 * The prefill side of vLLM's NIXL handshake: a ZMQ ROUTER bound at {@code tcp://host:port} (vLLM:
 * {@code VLLM_NIXL_SIDE_CHANNEL_HOST}, {@code VLLM_NIXL_SIDE_CHANNEL_PORT} plus the data-parallel rank) that
 * answers each REQ peer's {@code (b"get_meta_msg", tp_rank)} with that rank's encoded {@code NixlHandshakePayload}.
 * The frames are vLLM's: the peer's identity, an empty delimiter, then the one message. One thread owns the
 * socket; it polls a stop flag once a second as vLLM's listener does.
 *
 * <p>On wire version 12 the request is {@code (b"get_meta_msg", pp_rank, tp_rank)} and the answer two frames: the
 * payload and {@code msgspec.msgpack.encode(time.perf_counter())} of this process (vLLM's base_scheduler.py at
 * 0050936b). A request of the other version's shape gets an empty answer (the peer fails at once) and a log line
 * naming the setting to change.
 */
public final class VllmSideChannel implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VllmSideChannel.class);
    private static final int RECV_TIMEOUT_MS = 200;

    private final ZContext context;
    private final ZMQ.Socket socket;
    private final int port;
    private final Thread listener;
    private final VllmWireVersion wire;
    private volatile boolean open = true;

    /**
     * @param port 0 picks a free port
     * @param payloads the encoded payload of a tp rank, or null for a rank this node does not have
     */
    public VllmSideChannel(String host, int port, IntFunction<byte[]> payloads) {
        this(host, port, VllmWireVersion.V2, payloads);
    }

    /** The side channel of {@code wire}; {@code payloads} as above (pipeline-parallel rank 0 only). */
    public VllmSideChannel(String host, int port, VllmWireVersion wire, IntFunction<byte[]> payloads) {
        this.wire = wire;
        this.context = new ZContext();
        try {
            this.socket = context.createSocket(SocketType.ROUTER);
            socket.setReceiveTimeOut(RECV_TIMEOUT_MS);
            socket.setLinger(0);
            if (port == 0) {
                this.port = socket.bindToRandomPort(tcpHost(host));
            } else {
                socket.bind(tcpHost(host) + ":" + port);
                this.port = port;
            }
        } catch (RuntimeException e) {
            context.close();
            throw e;
        }
        this.listener = Thread.ofPlatform()
                .name("jepd-vllm-nixl-side-channel-" + this.port)
                .daemon()
                .start(() -> listen(payloads));
    }

    public int port() {
        return port;
    }

    private void listen(IntFunction<byte[]> payloads) {
        while (open) {
            ZMsg msg;
            try {
                msg = ZMsg.recvMsg(socket);
            } catch (RuntimeException e) {
                if (open) {
                    LOG.warn("vLLM side channel: receive failed: {}", e.toString());
                }
                continue;
            }
            if (msg == null) {
                continue; // timeout: look at the stop flag
            }
            try {
                RouterEnvelope request = RouterEnvelope.of(msg, LOG, "vLLM side channel");
                if (request == null) {
                    continue;
                }
                byte[] answer = answer(request.payload(), payloads);
                if (wire == VllmWireVersion.V12) {
                    request.answer(socket, answer, VllmNixlWire.encodePerfCounter(System.nanoTime() / 1e9));
                } else {
                    request.answer(socket, answer);
                }
            } catch (RuntimeException e) {
                if (open) {
                    LOG.warn("vLLM side channel: answering failed: {}", e.toString());
                }
            }
        }
        socket.close();
    }

    /** The payload asked for; an empty answer (the peer fails to decode it at once) for a bad or unknown ask. */
    private byte[] answer(byte[] request, IntFunction<byte[]> payloads) {
        VllmNixlWire.MetaRequest ask;
        try {
            ask = VllmNixlWire.decodeMetaRequest(request);
        } catch (VllmNixlWire.WireException e) {
            LOG.warn("vLLM side channel: {}", e.getMessage());
            return new byte[0];
        }
        if (ask.version() != wire) {
            LOG.warn(
                    "vLLM side channel: a decode node asked in the shape of vLLM's NixlConnector version {} ({}), this"
                            + " node speaks version {}; set kv_connector_extra_config.vllm_wire_version to {} (both"
                            + " nodes must agree: the version is part of the compatibility hash)",
                    ask.version().connectorVersion(),
                    ask.version() == VllmWireVersion.V2
                            ? "(get_meta_msg, tp_rank), nixl_connector.py"
                            : "(get_meta_msg, pp_rank, tp_rank), the nixl/ package",
                    wire.connectorVersion(),
                    ask.version().connectorVersion());
            return new byte[0];
        }
        byte[] payload = ask.ppRank() == 0 ? payloads.apply(ask.tpRank()) : null;
        if (payload == null) {
            LOG.warn(
                    "vLLM side channel: a peer asked for pp rank {}, tp rank {}; this JEPD node is rank 0 of 1",
                    ask.ppRank(),
                    ask.tpRank());
            return new byte[0];
        }
        return payload;
    }

    /**
     * The client's end, as vLLM's decode worker asks: {@code (b"get_meta_msg", rank)} on a REQ socket, the raw
     * answer back, or null when none came within {@code timeoutMs}. The ask is idempotent, so it is sent again on a
     * fresh socket after 0.5 s, 1 s, 2 s ... within that time: JeroMQ's REQ socket loses about one ask in a hundred
     * that it sends right after connecting (measured here: 3 to 7 of 400 against this ROUTER, 0 of 400 from pyzmq's
     * REQ against the same ROUTER), and the retry turns that into a half-second delay.
     */
    public static byte[] ask(ZContext zmq, String host, int port, int rank, int timeoutMs) {
        List<byte[]> frames = ask(zmq, host, port, VllmNixlWire.encodeGetMeta(rank), timeoutMs);
        return frames == null ? null : frames.getFirst();
    }

    /** {@link #ask(ZContext, String, int, int, int)} for any request: every frame of the answer, or null. */
    public static List<byte[]> ask(ZContext zmq, String host, int port, byte[] request, int timeoutMs) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        int wait = 500;
        while (true) {
            int left = (int) ((deadline - System.nanoTime()) / 1_000_000L);
            if (left <= 0) {
                return null;
            }
            try (ZMQ.Socket req = zmq.createSocket(SocketType.REQ)) {
                req.setReceiveTimeOut(Math.min(wait, left));
                req.setLinger(0);
                req.connect(tcpHost(host) + ":" + port);
                req.send(request);
                byte[] first = req.recv();
                if (first != null) {
                    List<byte[]> frames = new ArrayList<>();
                    frames.add(first);
                    while (req.hasReceiveMore()) {
                        frames.add(req.recv());
                    }
                    return frames;
                }
            }
            wait *= 2;
        }
    }

    /** {@code tcp://host}, an IPv6 literal in brackets, as ZMQ endpoints want it. */
    private static String tcpHost(String host) {
        return "tcp://" + (host.contains(":") ? "[" + host + "]" : host);
    }

    @Override
    public void close() {
        open = false;
        try {
            listener.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        context.close();
    }
}
