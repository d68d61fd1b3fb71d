package dev.jepd.transfer.vllm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ValueType;

/**
 * The bytes of vLLM's NixlConnector side channel (its {@code NIXL_CONNECTOR_VERSION} 2, and version 12's
 * additions: {@link AgentMetadataV12}, {@link MetaRequest}, the clock frame, heartbeats). msgspec writes vLLM's
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

    /**
     * vLLM's {@code NixlAgentMetadata} at {@code NIXL_CONNECTOR_VERSION} 12 (nixl/metadata.py at 02cfb534): the version
     * 2 fields plus {@code block_strides} (bytes from one block to the next, per region), {@code ssm_sizes} (0, 0
     * without Mamba layers), {@code attn_backend_name}, {@code physical_blocks_per_logical_kv_block}, and defaulted
     * per-region geometry ({@code null} lists: every region is {@code num_blocks} blocks of group 0), {@code dcp_size},
     * {@code pcp_size} and {@code region_members}. msgspec writes the defaulted fields too; decoding applies the
     * defaults where a peer leaves them out.
     */
    public record AgentMetadataV12(
            String engineId,
            byte[] agentMetadata,
            long[] kvCachesBaseAddr,
            int deviceId,
            int numBlocks,
            long[] blockLens,
            long[] blockStrides,
            String kvCacheLayout,
            int blockSize,
            long[] ssmSizes,
            String attnBackendName,
            int physicalBlocksPerLogicalKvBlock,
            long[] regionNumBlocks,
            long[] regionGroupIds,
            List<String> regionNames,
            List<String> regionMemTypes,
            int dcpSize,
            int pcpSize,
            List<List<String>> regionMembers) {

        /** One group of regions of {@code numBlocks} equal blocks laid end to end: what a JEPD prefill node has. */
        public static AgentMetadataV12 of(AgentMetadata m, String attnBackendName) {
            return new AgentMetadataV12(
                    m.engineId(),
                    m.agentMetadata(),
                    m.kvCachesBaseAddr(),
                    m.deviceId(),
                    m.numBlocks(),
                    m.blockLens(),
                    m.blockLens().clone(),
                    m.kvCacheLayout(),
                    m.blockSize(),
                    new long[] {0, 0},
                    attnBackendName,
                    1,
                    null,
                    null,
                    null,
                    null,
                    1,
                    1,
                    List.of());
        }

        /** The version 2 view: where the regions and blocks are (what a reader needs when strides equal lengths). */
        public AgentMetadata asV2() {
            return new AgentMetadata(
                    engineId,
                    agentMetadata,
                    kvCachesBaseAddr,
                    deviceId,
                    numBlocks,
                    blockLens,
                    kvCacheLayout,
                    blockSize);
        }

        public byte[] encode() {
            try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
                p.packMapHeader(19);
                p.packString("engine_id").packString(engineId);
                p.packString("agent_metadata").packBinaryHeader(agentMetadata.length);
                p.writePayload(agentMetadata);
                p.packString("kv_caches_base_addr");
                packLongs(p, kvCachesBaseAddr);
                p.packString("device_id").packInt(deviceId);
                p.packString("num_blocks").packInt(numBlocks);
                p.packString("block_lens");
                packLongs(p, blockLens);
                p.packString("block_strides");
                packLongs(p, blockStrides);
                p.packString("kv_cache_layout").packString(kvCacheLayout);
                p.packString("block_size").packInt(blockSize);
                p.packString("ssm_sizes");
                packLongs(p, ssmSizes);
                p.packString("attn_backend_name").packString(attnBackendName);
                p.packString("physical_blocks_per_logical_kv_block").packInt(physicalBlocksPerLogicalKvBlock);
                p.packString("region_num_blocks");
                packLongsOrNil(p, regionNumBlocks);
                p.packString("region_group_ids");
                packLongsOrNil(p, regionGroupIds);
                p.packString("region_names");
                packStringsOrNil(p, regionNames);
                p.packString("region_mem_types");
                packStringsOrNil(p, regionMemTypes);
                p.packString("dcp_size").packInt(dcpSize);
                p.packString("pcp_size").packInt(pcpSize);
                p.packString("region_members").packArrayHeader(regionMembers.size());
                for (List<String> members : regionMembers) {
                    packStringsOrNil(p, members);
                }
                return p.toByteArray();
            } catch (IOException e) {
                throw new IllegalStateException("msgpack into memory failed", e);
            }
        }

        public static AgentMetadataV12 decode(byte[] bytes) {
            Map<String, Object> m = decodeMap(bytes, "NixlAgentMetadata");
            long[] ssm = longs(m, "ssm_sizes");
            if (ssm.length != 2) {
                throw new WireException("field `ssm_sizes` is not a pair");
            }
            List<List<String>> members = new ArrayList<>();
            if (m.get("region_members") != null) {
                if (!(m.get("region_members") instanceof List<?> outer)) {
                    throw new WireException("field `region_members` is not a list");
                }
                for (int i = 0; i < outer.size(); i++) {
                    members.add(strings(outer.get(i), "region_members[" + i + "]"));
                }
            } else if (m.containsKey("region_members")) {
                throw new WireException("field `region_members` is null");
            }
            return new AgentMetadataV12(
                    str(m, "engine_id"),
                    bin(m, "agent_metadata"),
                    longs(m, "kv_caches_base_addr"),
                    Math.toIntExact(integer(m, "device_id")),
                    Math.toIntExact(integer(m, "num_blocks")),
                    longs(m, "block_lens"),
                    longs(m, "block_strides"),
                    str(m, "kv_cache_layout"),
                    Math.toIntExact(integer(m, "block_size")),
                    ssm,
                    str(m, "attn_backend_name"),
                    Math.toIntExact(integer(m, "physical_blocks_per_logical_kv_block")),
                    m.get("region_num_blocks") == null ? null : longs(m, "region_num_blocks"),
                    m.get("region_group_ids") == null ? null : longs(m, "region_group_ids"),
                    m.get("region_names") == null ? null : strings(m.get("region_names"), "region_names"),
                    m.get("region_mem_types") == null ? null : strings(m.get("region_mem_types"), "region_mem_types"),
                    m.containsKey("dcp_size") ? Math.toIntExact(integer(m, "dcp_size")) : 1,
                    m.containsKey("pcp_size") ? Math.toIntExact(integer(m, "pcp_size")) : 1,
                    List.copyOf(members));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof AgentMetadataV12 a
                    && engineId.equals(a.engineId)
                    && Arrays.equals(agentMetadata, a.agentMetadata)
                    && Arrays.equals(kvCachesBaseAddr, a.kvCachesBaseAddr)
                    && deviceId == a.deviceId
                    && numBlocks == a.numBlocks
                    && Arrays.equals(blockLens, a.blockLens)
                    && Arrays.equals(blockStrides, a.blockStrides)
                    && kvCacheLayout.equals(a.kvCacheLayout)
                    && blockSize == a.blockSize
                    && Arrays.equals(ssmSizes, a.ssmSizes)
                    && attnBackendName.equals(a.attnBackendName)
                    && physicalBlocksPerLogicalKvBlock == a.physicalBlocksPerLogicalKvBlock
                    && Arrays.equals(regionNumBlocks, a.regionNumBlocks)
                    && Arrays.equals(regionGroupIds, a.regionGroupIds)
                    && Objects.equals(regionNames, a.regionNames)
                    && Objects.equals(regionMemTypes, a.regionMemTypes)
                    && dcpSize == a.dcpSize
                    && pcpSize == a.pcpSize
                    && regionMembers.equals(a.regionMembers);
        }

        @Override
        public int hashCode() {
            return engineId.hashCode() * 31 + Arrays.hashCode(kvCachesBaseAddr);
        }

        @Override
        public String toString() {
            return "NixlAgentMetadata(v12)[engine_id=" + engineId + ", agent_metadata=" + agentMetadata.length
                    + " bytes, kv_caches_base_addr=" + kvCachesBaseAddr.length + " regions, num_blocks=" + numBlocks
                    + ", block_lens=" + Arrays.toString(blockLens) + ", block_strides="
                    + Arrays.toString(blockStrides) + ", layout=" + kvCacheLayout + ", block_size=" + blockSize
                    + ", attn_backend=" + attnBackendName + ", physical_per_logical="
                    + physicalBlocksPerLogicalKvBlock + ", region_num_blocks=" + Arrays.toString(regionNumBlocks)
                    + ", dcp=" + dcpSize + ", pcp=" + pcpSize + "]";
        }
    }

    /**
     * A side-channel request as a listener reads it: {@code (b"get_meta_msg", tp_rank)} from a version 2 decode
     * worker ({@code ppRank} 0), {@code (b"get_meta_msg", pp_rank, tp_rank)} from a version 12 one.
     */
    public record MetaRequest(VllmWireVersion version, int ppRank, int tpRank) {}

    /** A version 12 decode worker's request: the msgpack array {@code [b"get_meta_msg", pp_rank, tp_rank]}. */
    public static byte[] encodeGetMeta(int ppRank, int tpRank) {
        return getMeta(ppRank, tpRank);
    }

    /** The msgpack array {@code [b"get_meta_msg", ranks...]}. */
    private static byte[] getMeta(int... ranks) {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(1 + ranks.length);
            p.packBinaryHeader(GET_META_MSG.length);
            p.writePayload(GET_META_MSG);
            for (int rank : ranks) {
                p.packInt(rank);
            }
            return p.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("msgpack into memory failed", e);
        }
    }

    /** Either shape of request; the shape says which wire the peer speaks. */
    public static MetaRequest decodeMetaRequest(byte[] bytes) {
        try (MessageUnpacker u = MessagePack.newDefaultUnpacker(bytes)) {
            if (u.getNextFormat().getValueType() != ValueType.ARRAY) {
                throw new WireException("a side-channel request is not a (get_meta_msg, ...) tuple");
            }
            int n = u.unpackArrayHeader();
            if (n != 2 && n != 3) {
                throw new WireException("a side-channel request is a tuple of " + n
                        + ", neither (get_meta_msg, tp_rank) nor (get_meta_msg, pp_rank, tp_rank)");
            }
            readTag(u);
            int first = readRank(u);
            if (n == 2) {
                return new MetaRequest(VllmWireVersion.V2, 0, first);
            }
            return new MetaRequest(VllmWireVersion.V12, first, readRank(u));
        } catch (IOException | RuntimeException e) {
            if (e instanceof WireException w) {
                throw w;
            }
            throw new WireException("a side-channel request is not msgpack: " + e.getMessage(), e);
        }
    }

    private static void readTag(MessageUnpacker u) throws IOException {
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
    }

    private static int readRank(MessageUnpacker u) throws IOException {
        if (u.getNextFormat().getValueType() != ValueType.INTEGER) {
            throw new WireException("a side-channel request's rank is not an integer");
        }
        return u.unpackInt();
    }

    /**
     * The second frame of a version 12 listener's answer: {@code msgspec.msgpack.encode(time.perf_counter())}, the
     * prefill process's clock in seconds (a msgpack float64), from which the decode worker estimates the offset
     * between the two clocks.
     */
    public static byte[] encodePerfCounter(double seconds) {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packDouble(seconds);
            return p.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("msgpack into memory failed", e);
        }
    }

    public static double decodePerfCounter(byte[] bytes) {
        try (MessageUnpacker u = MessagePack.newDefaultUnpacker(bytes)) {
            return switch (u.getNextFormat().getValueType()) {
                case FLOAT -> u.unpackDouble();
                case INTEGER -> u.unpackLong();
                default -> throw new WireException("a side-channel clock frame is not a number");
            };
        } catch (IOException e) {
            throw new WireException("a side-channel clock frame is not msgpack: " + e.getMessage(), e);
        }
    }

    /** The prefix of a version 12 decode worker's lease-renewing notification. */
    static final String HEARTBEAT_PREFIX = "HB:";

    /**
     * The notification a version 12 decode worker sends each of its prefill peers' workers every
     * {@code kv_lease_duration // 6} seconds while requests wait for their KV: {@code "HB:<id>,<id>,..."} of the
     * prefill side's request ids.
     */
    public static byte[] heartbeat(java.util.Collection<String> remoteRequestIds) {
        return (HEARTBEAT_PREFIX + String.join(",", remoteRequestIds)).getBytes(StandardCharsets.UTF_8);
    }

    /** The request ids of a heartbeat; null when the message is not one. */
    public static List<String> parseHeartbeat(byte[] message) {
        String s = new String(message, StandardCharsets.UTF_8);
        if (!s.startsWith(HEARTBEAT_PREFIX)) {
            return null;
        }
        return List.of(s.substring(HEARTBEAT_PREFIX.length()).split(",", -1));
    }

    /** The decode worker's request for {@code tpRank}'s metadata: the msgpack array {@code [b"get_meta_msg", rank]}. */
    public static byte[] encodeGetMeta(int tpRank) {
        return getMeta(tpRank);
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
                                + " NixlConnector (the nixl/ package) than this node is set to speak"
                                + " (NIXL_CONNECTOR_VERSION " + NIXL_CONNECTOR_VERSION
                                + "); set kv_connector_extra_config.vllm_wire_version to 12");
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

    static void packLongs(MessageBufferPacker p, long[] values) throws IOException {
        p.packArrayHeader(values.length);
        for (long v : values) {
            p.packLong(v);
        }
    }

    private static void packLongsOrNil(MessageBufferPacker p, long[] values) throws IOException {
        if (values == null) {
            p.packNil();
        } else {
            packLongs(p, values);
        }
    }

    private static void packStringsOrNil(MessageBufferPacker p, List<String> values) throws IOException {
        if (values == null) {
            p.packNil();
            return;
        }
        p.packArrayHeader(values.size());
        for (String v : values) {
            p.packString(v);
        }
    }

    private static List<String> strings(Object value, String name) {
        if (!(value instanceof List<?> list)) {
            throw new WireException("field `" + name + "` is not a list");
        }
        List<String> out = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            if (!(list.get(i) instanceof String s)) {
                throw new WireException("field `" + name + "[" + i + "]` is not a str");
            }
            out.add(s);
        }
        return List.copyOf(out);
    }

    static Map<String, Object> decodeMap(byte[] bytes, String type) {
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

    static Object field(Map<String, Object> m, String name) {
        if (!m.containsKey(name)) {
            throw new WireException("missing required field `" + name + "`");
        }
        Object v = m.get(name);
        if (v == null) {
            throw new WireException("field `" + name + "` is null");
        }
        return v;
    }

    static String str(Map<String, Object> m, String name) {
        if (field(m, name) instanceof String s) {
            return s;
        }
        throw new WireException("field `" + name + "` is not a str");
    }

    static byte[] bin(Map<String, Object> m, String name) {
        if (field(m, name) instanceof byte[] b) {
            return b;
        }
        throw new WireException("field `" + name + "` is not bytes");
    }

    static long integer(Map<String, Object> m, String name) {
        if (field(m, name) instanceof Long l) {
            return l;
        }
        throw new WireException("field `" + name + "` is not an int");
    }

    static long[] longs(Map<String, Object> m, String name) {
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
