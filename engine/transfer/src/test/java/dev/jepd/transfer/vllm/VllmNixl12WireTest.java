package dev.jepd.transfer.vllm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * vLLM's newer NixlConnector wire (NIXL_CONNECTOR_VERSION 12, the nixl/ package) against goldens msgspec made from
 * vLLM's dataclass definitions (make_vllm_nixl12_goldens.py names the commits).
 */
class VllmNixl12WireTest {
    static JsonNode golden;

    @BeforeAll
    static void load() throws Exception {
        try (InputStream in = VllmNixl12WireTest.class.getResourceAsStream("/kv/vllm-nixl/vllm_nixl12_goldens.json")) {
            golden = new ObjectMapper().readTree(in);
        }
    }

    static byte[] hex(String field) {
        return HexFormat.of().parseHex(golden.get(field).asText());
    }

    static long[] longs(JsonNode n) {
        if (n.isNull()) {
            return null;
        }
        long[] out = new long[n.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = n.get(i).asLong();
        }
        return out;
    }

    static List<String> strings(JsonNode n) {
        if (n.isNull()) {
            return null;
        }
        List<String> out = new ArrayList<>();
        n.forEach(s -> out.add(s.asText()));
        return out;
    }

    static VllmNixlWire.AgentMetadataV12 metadata(String field) {
        JsonNode m = golden.get(field);
        List<List<String>> members = new ArrayList<>();
        m.get("region_members").forEach(r -> members.add(strings(r)));
        return new VllmNixlWire.AgentMetadataV12(
                m.get("engine_id").asText(),
                HexFormat.of().parseHex(m.get("agent_metadata").asText()),
                longs(m.get("kv_caches_base_addr")),
                m.get("device_id").asInt(),
                m.get("num_blocks").asInt(),
                longs(m.get("block_lens")),
                longs(m.get("block_strides")),
                m.get("kv_cache_layout").asText(),
                m.get("block_size").asInt(),
                longs(m.get("ssm_sizes")),
                m.get("attn_backend_name").asText(),
                m.get("physical_blocks_per_logical_kv_block").asInt(),
                longs(m.get("region_num_blocks")),
                longs(m.get("region_group_ids")),
                strings(m.get("region_names")),
                strings(m.get("region_mem_types")),
                m.get("dcp_size").asInt(),
                m.get("pcp_size").asInt(),
                members);
    }

    @Test
    void agentMetadataEncodesAsMsgspecDoes() {
        assertArrayEquals(hex("metadata_msgpack_hex"), metadata("metadata").encode());
        assertEquals(metadata("metadata"), VllmNixlWire.AgentMetadataV12.decode(hex("metadata_msgpack_hex")));
        assertArrayEquals(
                hex("metadata_full_msgpack_hex"), metadata("metadata_full").encode());
        assertEquals(metadata("metadata_full"), VllmNixlWire.AgentMetadataV12.decode(hex("metadata_full_msgpack_hex")));
    }

    @Test
    void leftOutDefaultsDecodeToVllmsDefaults() {
        assertEquals(
                metadata("metadata"),
                VllmNixlWire.AgentMetadataV12.decode(hex("metadata_defaults_left_out_msgpack_hex")));
    }

    @Test
    void jepdsAreaIsOneGroupOfEqualRegions() {
        VllmNixlWire.AgentMetadataV12 m = metadata("metadata");
        assertEquals(m, VllmNixlWire.AgentMetadataV12.of(m.asV2(), "FLASH_ATTN"));
    }

    @Test
    void handshakePayloadEncodesAsMsgspecDoes() {
        var payload = new VllmNixlWire.HandshakePayload(
                golden.get("compatibility_hash").asText(), metadata("metadata").encode());
        assertArrayEquals(hex("payload_msgpack_hex"), payload.encode());
        var back = VllmNixlWire.HandshakePayload.decode(hex("payload_msgpack_hex"));
        assertEquals(metadata("metadata"), VllmNixlWire.AgentMetadataV12.decode(back.agentMetadataBytes()));
        // A version 2 reader cannot take it: block_strides and the rest are ignored, but it decodes the v2 fields.
        assertEquals(metadata("metadata").asV2(), back.metadata());
    }

    @Test
    void getMetaRequestIsMsgspecsTriple() {
        assertArrayEquals(hex("get_meta_msg_hex"), VllmNixlWire.encodeGetMeta(0, 0));
        assertArrayEquals(hex("get_meta_msg_pp1_tp3_hex"), VllmNixlWire.encodeGetMeta(1, 3));
        assertEquals(
                new VllmNixlWire.MetaRequest(VllmWireVersion.V12, 1, 3),
                VllmNixlWire.decodeMetaRequest(hex("get_meta_msg_pp1_tp3_hex")));
        // The version 2 pair is told apart by its shape.
        assertEquals(
                new VllmNixlWire.MetaRequest(VllmWireVersion.V2, 0, 2),
                VllmNixlWire.decodeMetaRequest(VllmNixlWire.encodeGetMeta(2)));
        assertThrows(
                VllmNixlWire.WireException.class,
                () -> VllmNixlWire.decodeMetaRequest(new byte[] {(byte) 0x91, (byte) 0xc4, 0}));
    }

    @Test
    void clockFrameIsMsgspecsFloat() {
        double perf = golden.get("perf_counter").asDouble();
        assertArrayEquals(hex("perf_counter_msgpack_hex"), VllmNixlWire.encodePerfCounter(perf));
        assertEquals(perf, VllmNixlWire.decodePerfCounter(hex("perf_counter_msgpack_hex")));
    }

    @Test
    void heartbeatNamesThePrefillRequestIds() {
        String text = golden.get("heartbeat_notification").asText();
        assertArrayEquals(text.getBytes(), VllmNixlWire.heartbeat(List.of("cmpl-golden-0", "cmpl-golden-1")));
        assertEquals(List.of("cmpl-golden-0", "cmpl-golden-1"), VllmNixlWire.parseHeartbeat(text.getBytes()));
        assertNull(VllmNixlWire.parseHeartbeat("cmpl-golden-0:1".getBytes()));
        // A heartbeat is no release: vLLM checks the prefix first.
        assertEquals(
                new VllmNixlWire.Release("cmpl-golden-0", 1),
                VllmNixlWire.Release.parse(
                        golden.get("release_notification").asText().getBytes()));
    }

    @Test
    void compatibilityHashIsVllmsHashFactorsAtVersion12() {
        JsonNode f = golden.get("factors");
        var h = new VllmCompatHash(
                f.get("vllm_version").asText(),
                f.get("model").asText(),
                f.get("dtype").asText(),
                f.get("num_kv_heads").asInt(),
                f.get("head_size").asInt(),
                f.get("num_hidden_layers").asInt(),
                f.get("attn_backend_name").asText(),
                f.get("cache_dtype").asText());
        assertEquals(
                golden.get("compatibility_hash").asText(),
                h.hex(VllmWireVersion.V12, f.get("is_hma_enabled").asBoolean()));
    }

    @Test
    void settingNamesTheConnectorVersion() {
        assertEquals(VllmWireVersion.V2, VllmWireVersion.parseSetting("2"));
        assertEquals(VllmWireVersion.V12, VllmWireVersion.parseSetting(" 12 "));
        assertNull(VllmWireVersion.parseSetting("AUTO"));
        var e = assertThrows(IllegalArgumentException.class, () -> VllmWireVersion.parseSetting("4"));
        assertTrue(e.getMessage().contains("2") && e.getMessage().contains("12"), e.getMessage());
    }
}
