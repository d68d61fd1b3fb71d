package dev.jepd.transfer.vllm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * The bytes of vLLM's {@code ECCPUConnector} in its P2P NIXL mode ({@code ec_enable_nixl}): the ZMQ side channel's
 * {@code XferReq} and {@code XferAck} ({@code vllm/distributed/ec_transfer/ec_connector/cpu/protocol.py}), the
 * {@code mem_descriptor} of the producer's blocks, the completion notification and the compatibility hash.
 *
 * <p>The two messages are msgspec structs with {@code tag} and {@code omit_defaults=True}: a msgpack map whose first
 * entry is {@code "type": "req"|"ack"}, then the fields in declaration order, each left out when it equals its
 * default. msgpack-java packs the same forms as msgspec, so the encodings here equal msgspec's byte for byte
 * (pinned by goldens made with msgspec 0.22). Decoding follows msgspec: keys in any order, unknown keys ignored, a
 * missing field takes its default, a wrong tag is refused.
 */
public final class VllmEcWire {
    /**
     * The {@code EC_CONNECTOR_VERSION} whose wire this is. Version 1 (vLLM's first P2P NIXL builds) and 2 share the
     * messages; they differ in block size and in the announcement's {@code shape} (see {@link VllmEcCpuConnector}).
     */
    public static final int DEFAULT_CONNECTOR_VERSION = 2;

    /** How long a producer pins an item it granted (vLLM's {@code PRODUCER_PIN_LEASE_S}). */
    public static final double PRODUCER_PIN_LEASE_S = 30.0;

    private VllmEcWire() {}

    /** vLLM's {@code XferStatus}. Only {@link #NACK_NOT_READY} is worth asking again. */
    public enum Status {
        OK,
        NACK_MISSING,
        NACK_INCOMPAT,
        NACK_VERSION,
        NACK_INTERNAL,
        NACK_NOT_READY;

        public int code() {
            return ordinal();
        }

        static Status of(long code) {
            if (code < 0 || code >= values().length) {
                throw new VllmNixlWire.WireException("XferAck status " + code + " is not an XferStatus");
            }
            return values()[(int) code];
        }
    }

    /**
     * A consumer's ask for one item. {@code connectorVersion} null means absent (stock vLLM never sends it: it always
     * equals its own default); a receiver then assumes its own.
     */
    public record XferReq(String mmHash, String compatibilityHash, String sessionId, Integer connectorVersion) {
        public byte[] encode() {
            boolean withSession = !sessionId.isEmpty();
            try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
                p.packMapHeader(3 + (withSession ? 1 : 0) + (connectorVersion != null ? 1 : 0));
                p.packString("type").packString("req");
                p.packString("mm_hash").packString(mmHash);
                p.packString("compatibility_hash").packString(compatibilityHash);
                if (withSession) {
                    p.packString("session_id").packString(sessionId);
                }
                if (connectorVersion != null) {
                    p.packString("connector_version").packInt(connectorVersion);
                }
                return p.toByteArray();
            } catch (IOException e) {
                throw new IllegalStateException("msgpack into memory failed", e);
            }
        }

        public static XferReq decode(byte[] bytes) {
            Map<String, Object> m = VllmNixlWire.decodeMap(bytes, "XferReq");
            tag(m, "req", "XferReq");
            return new XferReq(
                    VllmNixlWire.str(m, "mm_hash"),
                    VllmNixlWire.str(m, "compatibility_hash"),
                    m.containsKey("session_id") ? VllmNixlWire.str(m, "session_id") : "",
                    m.containsKey("connector_version")
                            ? Math.toIntExact(VllmNixlWire.integer(m, "connector_version"))
                            : null);
        }
    }

    /**
     * A producer's answer. A NACK carries only the hash and the status; an OK one the item's blocks in order, the
     * producer's NIXL agent metadata and the {@link #encodeMemDescriptor mem_descriptor} of all its blocks.
     */
    public record XferAck(
            String mmHash,
            Status status,
            String sessionId,
            long[] srcBlockIndices,
            byte[] agentMetadata,
            byte[] memDescriptor) {

        public static XferAck nack(String mmHash, Status status) {
            return new XferAck(mmHash, status, "", new long[0], new byte[0], new byte[0]);
        }

        public byte[] encode() {
            return encode(mmHash, status, sessionId, srcBlockIndices, Tail.of(agentMetadata, memDescriptor));
        }

        /**
         * An OK answer whose agent metadata and {@code mem_descriptor} were encoded once ({@link Tail#of}): they
         * are the same in every grant of a producer, and the descriptor alone is megabytes for a large region.
         */
        public static byte[] encodeOk(String mmHash, String sessionId, long[] srcBlockIndices, Tail tail) {
            return encode(mmHash, Status.OK, sessionId, srcBlockIndices, tail);
        }

        private static byte[] encode(String mmHash, Status status, String sessionId, long[] blocks, Tail tail) {
            int n = 3 + (sessionId.isEmpty() ? 0 : 1) + (blocks.length == 0 ? 0 : 1) + tail.entries;
            try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
                p.packMapHeader(n);
                p.packString("type").packString("ack");
                p.packString("mm_hash").packString(mmHash);
                p.packString("status").packInt(status.code());
                if (!sessionId.isEmpty()) {
                    p.packString("session_id").packString(sessionId);
                }
                if (blocks.length > 0) {
                    p.packString("src_block_indices");
                    VllmNixlWire.packLongs(p, blocks);
                }
                byte[] head = p.toByteArray();
                byte[] out = Arrays.copyOf(head, head.length + tail.bytes.length);
                System.arraycopy(tail.bytes, 0, out, head.length, tail.bytes.length);
                return out;
            } catch (IOException e) {
                throw new IllegalStateException("msgpack into memory failed", e);
            }
        }

        public static XferAck decode(byte[] bytes) {
            Map<String, Object> m = VllmNixlWire.decodeMap(bytes, "XferAck");
            tag(m, "ack", "XferAck");
            return new XferAck(
                    VllmNixlWire.str(m, "mm_hash"),
                    Status.of(VllmNixlWire.integer(m, "status")),
                    m.containsKey("session_id") ? VllmNixlWire.str(m, "session_id") : "",
                    m.containsKey("src_block_indices") ? VllmNixlWire.longs(m, "src_block_indices") : new long[0],
                    m.containsKey("agent_metadata") ? VllmNixlWire.bin(m, "agent_metadata") : new byte[0],
                    m.containsKey("mem_descriptor") ? VllmNixlWire.bin(m, "mem_descriptor") : new byte[0]);
        }
    }

    /** The last two entries of an {@link XferAck}, {@code agent_metadata} and {@code mem_descriptor}, encoded. */
    public static final class Tail {
        private static final Tail NONE = new Tail(new byte[0], 0);
        final byte[] bytes;
        final int entries;

        private Tail(byte[] bytes, int entries) {
            this.bytes = bytes;
            this.entries = entries;
        }

        /** Each entry is left out where empty (the struct's default), as msgspec does. */
        public static Tail of(byte[] agentMetadata, byte[] memDescriptor) {
            if (agentMetadata.length == 0 && memDescriptor.length == 0) {
                return NONE;
            }
            try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
                if (agentMetadata.length > 0) {
                    p.packString("agent_metadata").packBinaryHeader(agentMetadata.length);
                    p.writePayload(agentMetadata);
                }
                if (memDescriptor.length > 0) {
                    p.packString("mem_descriptor").packBinaryHeader(memDescriptor.length);
                    p.writePayload(memDescriptor);
                }
                return new Tail(
                        p.toByteArray(), (agentMetadata.length > 0 ? 1 : 0) + (memDescriptor.length > 0 ? 1 : 0));
            } catch (IOException e) {
                throw new IllegalStateException("msgpack into memory failed", e);
            }
        }
    }

    private static void tag(Map<String, Object> m, String expected, String type) {
        if (m.containsKey("type") && !expected.equals(m.get("type"))) {
            throw new VllmNixlWire.WireException(type + " with tag " + m.get("type") + ", expected " + expected);
        }
    }

    /**
     * {@code msgspec.msgpack.encode(list[tuple[int, int, int]])} of every block of a region: {@code [address,
     * blockBytes, 0]} for block {@code i} at {@code base + i × blockBytes}. A READ names remote blocks by their
     * position in this list.
     */
    public static byte[] encodeMemDescriptor(long base, long blockBytes, int numBlocks) {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(numBlocks);
            for (int i = 0; i < numBlocks; i++) {
                p.packArrayHeader(3);
                p.packLong(base + i * blockBytes);
                p.packLong(blockBytes);
                p.packInt(0);
            }
            return p.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("msgpack into memory failed", e);
        }
    }

    /** One block of a peer's region: its address and length. */
    public record RemoteBlock(long address, long bytes) {}

    /** The blocks a {@code mem_descriptor} lists, in order. */
    public static List<RemoteBlock> decodeMemDescriptor(byte[] bytes) {
        try (MessageUnpacker u = MessagePack.newDefaultUnpacker(bytes)) {
            if (u.getNextFormat().getValueType() != ValueType.ARRAY) {
                throw new VllmNixlWire.WireException("mem_descriptor is not a msgpack list");
            }
            int n = u.unpackArrayHeader();
            RemoteBlock[] out = new RemoteBlock[n];
            for (int i = 0; i < n; i++) {
                if (u.getNextFormat().getValueType() != ValueType.ARRAY || u.unpackArrayHeader() != 3) {
                    throw new VllmNixlWire.WireException("mem_descriptor[" + i + "] is not [address, length, device]");
                }
                long address = u.unpackLong();
                long length = u.unpackLong();
                u.unpackLong(); // the device id: 0 for DRAM
                if (length <= 0) {
                    throw new VllmNixlWire.WireException("mem_descriptor[" + i + "] has length " + length);
                }
                out[i] = new RemoteBlock(address, length);
            }
            if (u.hasNext()) {
                throw new VllmNixlWire.WireException("mem_descriptor has trailing bytes");
            }
            return List.of(out);
        } catch (IOException | RuntimeException e) {
            if (e instanceof VllmNixlWire.WireException w) {
                throw w;
            }
            throw new VllmNixlWire.WireException("mem_descriptor is not valid msgpack: " + e.getMessage(), e);
        }
    }

    /** The notification a consumer's READ carries; the producer unpins the item when it arrives. */
    public static byte[] completion(String sessionId, String mmHash) {
        return (sessionId + ":" + mmHash).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * vLLM's {@code compute_ec_compatibility_hash}: SHA-256 hex of the compact {@code json.dumps([vllm_version,
     * model, dtype, block_size_bytes], separators=(",", ":"))}, where {@code model} is the model as the node was
     * started with it and {@code dtype} {@code str(torch.dtype)} ({@code "torch.bfloat16"}).
     */
    public static String compatibilityHash(String vllmVersion, String model, String dtype, long blockSizeBytes) {
        StringBuilder sb = new StringBuilder("[");
        VllmCompatHash.quote(sb, vllmVersion);
        sb.append(',');
        VllmCompatHash.quote(sb, model);
        sb.append(',');
        VllmCompatHash.quote(sb, dtype);
        sb.append(',').append(blockSizeBytes).append(']');
        return VllmCompatHash.sha256Hex(sb.toString());
    }
}
