package dev.jepd.transfer.vllm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * The bytes of vLLM's NixlConnector side channel (its {@code NIXL_CONNECTOR_VERSION} 2). msgspec writes vLLM's
 * two dataclasses as msgpack maps, keys in declaration order, each value in its smallest msgpack form (bytes as
 * {@code bin}, strings as {@code str}); msgpack-java packs the same forms, so the encodings here equal msgspec's
 * byte for byte (pinned by goldens). Decoding follows msgspec's rules for a dataclass: keys in any order, unknown
 * keys ignored, every field required.
 */
public final class VllmNixlWire {
    /** The request's tag: {@code msgspec.msgpack.encode((b"get_meta_msg", tp_rank))}. */
    static final byte[] GET_META_MSG = "get_meta_msg".getBytes(StandardCharsets.US_ASCII);

    /** The connector version whose wire this is; part of the compatibility hash. */
    public static final int NIXL_CONNECTOR_VERSION = 2;

    /** vLLM's {@code kv_cache_layout} for a cache whose block is {@code [kv_heads, block_size, head_dim]}. */
    public static final String HND = "HND";

    private VllmNixlWire() {}

    /** A malformed message from a vLLM peer. */
    public static final class WireException extends RuntimeException {
        WireException(String message) {
            super(message);
        }

        WireException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * vLLM's {@code NixlAgentMetadata}: who the prefill worker's NIXL agent is and where its KV regions lie. Region
     * {@code i} of {@code kvCachesBaseAddr} is per layer K then V; block {@code b} of region {@code i} is
     * {@code blockLens[i]} bytes at {@code kvCachesBaseAddr[i] + b × blockLens[i]}.
     */
    public record AgentMetadata(
            String engineId,
            byte[] agentMetadata,
            long[] kvCachesBaseAddr,
            int deviceId,
            int numBlocks,
            long[] blockLens,
            String kvCacheLayout,
            int blockSize) {

        public byte[] encode() {
            try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
                p.packMapHeader(8);
                p.packString("engine_id").packString(engineId);
                p.packString("agent_metadata").packBinaryHeader(agentMetadata.length);
                p.writePayload(agentMetadata);
                p.packString("kv_caches_base_addr");
                packLongs(p, kvCachesBaseAddr);
                p.packString("device_id").packInt(deviceId);
                p.packString("num_blocks").packInt(numBlocks);
                p.packString("block_lens");
                packLongs(p, blockLens);
                p.packString("kv_cache_layout").packString(kvCacheLayout);
                p.packString("block_size").packInt(blockSize);
                return p.toByteArray();
            } catch (IOException e) {
                throw new IllegalStateException("msgpack into memory failed", e);
            }
        }

        public static AgentMetadata decode(byte[] bytes) {
            Map<String, Object> m = decodeMap(bytes, "NixlAgentMetadata");
            return new AgentMetadata(
                    str(m, "engine_id"),
                    bin(m, "agent_metadata"),
                    longs(m, "kv_caches_base_addr"),
                    Math.toIntExact(integer(m, "device_id")),
                    Math.toIntExact(integer(m, "num_blocks")),
                    longs(m, "block_lens"),
                    str(m, "kv_cache_layout"),
                    Math.toIntExact(integer(m, "block_size")));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof AgentMetadata a
                    && engineId.equals(a.engineId)
                    && Arrays.equals(agentMetadata, a.agentMetadata)
                    && Arrays.equals(kvCachesBaseAddr, a.kvCachesBaseAddr)
                    && deviceId == a.deviceId
                    && numBlocks == a.numBlocks
                    && Arrays.equals(blockLens, a.blockLens)
                    && kvCacheLayout.equals(a.kvCacheLayout)
                    && blockSize == a.blockSize;
        }

        @Override
        public int hashCode() {
            return engineId.hashCode() * 31 + Arrays.hashCode(kvCachesBaseAddr);
        }

        @Override
        public String toString() {
            return "NixlAgentMetadata[engine_id=" + engineId + ", agent_metadata=" + agentMetadata.length
                    + " bytes, kv_caches_base_addr=" + kvCachesBaseAddr.length + " regions, num_blocks=" + numBlocks
                    + ", block_lens=" + Arrays.toString(blockLens) + ", layout=" + kvCacheLayout + ", block_size="
                    + blockSize + "]";
        }
    }

    /**
     * vLLM's {@code NixlHandshakePayload}: the compatibility hash, checked by the decode worker before it decodes
     * the agent metadata (msgpack of {@link AgentMetadata}) carried as bytes.
     */
    public record HandshakePayload(String compatibilityHash, byte[] agentMetadataBytes) {
        public byte[] encode() {
            try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
                p.packMapHeader(2);
                p.packString("compatibility_hash").packString(compatibilityHash);
                p.packString("agent_metadata_bytes").packBinaryHeader(agentMetadataBytes.length);
                p.writePayload(agentMetadataBytes);
                return p.toByteArray();
            } catch (IOException e) {
                throw new IllegalStateException("msgpack into memory failed", e);
            }
        }

        public static HandshakePayload decode(byte[] bytes) {
            Map<String, Object> m = decodeMap(bytes, "NixlHandshakePayload");
            return new HandshakePayload(str(m, "compatibility_hash"), bin(m, "agent_metadata_bytes"));
        }

        public AgentMetadata metadata() {
            return AgentMetadata.decode(agentMetadataBytes);
        }
    }

    /** The decode worker's request for {@code tpRank}'s metadata: the msgpack array {@code [b"get_meta_msg", rank]}. */
    public static byte[] encodeGetMeta(int tpRank) {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(2);
            p.packBinaryHeader(GET_META_MSG.length);
            p.writePayload(GET_META_MSG);
            p.packInt(tpRank);
            return p.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("msgpack into memory failed", e);
        }
    }

    /**
     * The tp rank a request asks for. vLLM's listener only logs a wrong tag and answers anyway; this one refuses it,
     * since a peer that sends another tag speaks another protocol.
     */
    public static int decodeGetMeta(byte[] bytes) {
        try (MessageUnpacker u = MessagePack.newDefaultUnpacker(bytes)) {
            if (u.getNextFormat().getValueType() != ValueType.ARRAY) {
                throw new WireException("a side-channel request is not the pair (get_meta_msg, tp_rank)");
            }
            int n = u.unpackArrayHeader();
            if (n == 3) {
                throw new WireException(
                        "a side-channel request (get_meta_msg, pp_rank, tp_rank) comes from a newer vLLM"
                                + " NixlConnector than JEPD speaks (NIXL_CONNECTOR_VERSION " + NIXL_CONNECTOR_VERSION
                                + ")");
            }
            if (n != 2) {
                throw new WireException("a side-channel request is not the pair (get_meta_msg, tp_rank)");
            }
            ValueType tagType = u.getNextFormat().getValueType();
            byte[] tag;
            if (tagType == ValueType.BINARY) {
                tag = u.readPayload(u.unpackBinaryHeader());
            } else if (tagType == ValueType.STRING) {
                tag = u.unpackString().getBytes(StandardCharsets.UTF_8);
            } else {
                throw new WireException("a side-channel request's tag is a " + tagType);
            }
            if (!Arrays.equals(tag, GET_META_MSG)) {
                throw new WireException("a side-channel request's tag is " + new String(tag, StandardCharsets.UTF_8)
                        + ", not get_meta_msg");
            }
            if (u.getNextFormat().getValueType() != ValueType.INTEGER) {
                throw new WireException("a side-channel request's tp rank is not an integer");
            }
            return u.unpackInt();
        } catch (IOException | RuntimeException e) {
            if (e instanceof WireException w) {
                throw w;
            }
            throw new WireException("a side-channel request is not msgpack: " + e.getMessage(), e);
        }
    }

    /**
     * The notification vLLM's decode worker sends with its read (and alone on a full prefix hit):
     * {@code "<remote_request_id>:<decode tp world size>"}.
     */
    public static byte[] releaseNotification(String requestId, int worldSize) {
        return (requestId + ":" + worldSize).getBytes(StandardCharsets.UTF_8);
    }

    /** A parsed release notification: which request, and how many decode workers read it. */
    public record Release(String requestId, int consumers) {
        /** As vLLM parses it: split at the last colon. Null when the message is not of that form. */
        public static Release parse(byte[] message) {
            String s = new String(message, StandardCharsets.UTF_8);
            int colon = s.lastIndexOf(':');
            if (colon <= 0) {
                return null;
            }
            try {
                int n = Integer.parseInt(s.substring(colon + 1));
                return n < 1 ? null : new Release(s.substring(0, colon), n);
            } catch (NumberFormatException e) {
                return null;
            }
        }
    }

    private static void packLongs(MessageBufferPacker p, long[] values) throws IOException {
        p.packArrayHeader(values.length);
        for (long v : values) {
            p.packLong(v);
        }
    }

    private static Map<String, Object> decodeMap(byte[] bytes, String type) {
        try (MessageUnpacker u = MessagePack.newDefaultUnpacker(bytes)) {
            if (u.getNextFormat().getValueType() != ValueType.MAP) {
                throw new WireException(type + " is not a msgpack map (an array_like peer?)");
            }
            int n = u.unpackMapHeader();
            Map<String, Object> out = new HashMap<>();
            for (int i = 0; i < n; i++) {
                if (u.getNextFormat().getValueType() != ValueType.STRING) {
                    throw new WireException(type + " has a key that is not a string");
                }
                String key = u.unpackString();
                out.put(key, readValue(u));
            }
            if (u.hasNext()) {
                throw new WireException(type + " has trailing bytes");
            }
            return out;
        } catch (IOException | RuntimeException e) {
            if (e instanceof WireException w) {
                throw w;
            }
            throw new WireException(type + " is not valid msgpack: " + e.getMessage(), e);
        }
    }

    /** Strings, bytes, integers, booleans, nil and lists of them; maps are skipped (no field here has one). */
    private static Object readValue(MessageUnpacker u) throws IOException {
        MessageFormat f = u.getNextFormat();
        return switch (f.getValueType()) {
            case STRING -> u.unpackString();
            case BINARY -> u.readPayload(u.unpackBinaryHeader());
            case INTEGER -> u.unpackLong();
            case BOOLEAN -> u.unpackBoolean();
            case NIL -> {
                u.unpackNil();
                yield null;
            }
            case ARRAY -> {
                int n = u.unpackArrayHeader();
                Object[] items = new Object[n];
                for (int i = 0; i < n; i++) {
                    items[i] = readValue(u);
                }
                yield List.of(items);
            }
            case FLOAT, MAP, EXTENSION -> {
                u.skipValue();
                yield Skipped.INSTANCE;
            }
        };
    }

    private enum Skipped {
        INSTANCE
    }

    private static Object field(Map<String, Object> m, String name) {
        if (!m.containsKey(name)) {
            throw new WireException("missing required field `" + name + "`");
        }
        Object v = m.get(name);
        if (v == null) {
            throw new WireException("field `" + name + "` is null");
        }
        return v;
    }

    private static String str(Map<String, Object> m, String name) {
        if (field(m, name) instanceof String s) {
            return s;
        }
        throw new WireException("field `" + name + "` is not a str");
    }

    private static byte[] bin(Map<String, Object> m, String name) {
        if (field(m, name) instanceof byte[] b) {
            return b;
        }
        throw new WireException("field `" + name + "` is not bytes");
    }

    private static long integer(Map<String, Object> m, String name) {
        if (field(m, name) instanceof Long l) {
            return l;
        }
        throw new WireException("field `" + name + "` is not an int");
    }

    private static long[] longs(Map<String, Object> m, String name) {
        if (!(field(m, name) instanceof List<?> list)) {
            throw new WireException("field `" + name + "` is not a list");
        }
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long l)) {
                throw new WireException("field `" + name + "[" + i + "]` is not an int");
            }
            out[i] = l;
        }
        return out;
    }
}
