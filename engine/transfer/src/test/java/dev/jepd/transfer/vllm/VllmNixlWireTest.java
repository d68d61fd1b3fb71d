package dev.jepd.transfer.vllm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.util.HexFormat;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The side channel's bytes against goldens msgspec made from vLLM's own dataclass definitions. */
class VllmNixlWireTest {
    static JsonNode golden;

    @BeforeAll
    static void load() throws Exception {
        try (InputStream in = VllmNixlWireTest.class.getResourceAsStream("/kv/vllm-nixl/vllm_nixl_goldens.json")) {
            golden = new ObjectMapper().readTree(in);
        }
    }

    static byte[] hex(String field) {
        return HexFormat.of().parseHex(golden.get(field).asText());
    }

    static VllmNixlWire.AgentMetadata goldenMetadata() {
        JsonNode m = golden.get("metadata");
        long[] bases = new long[m.get("kv_caches_base_addr").size()];
        for (int i = 0; i < bases.length; i++) {
            bases[i] = m.get("kv_caches_base_addr").get(i).asLong();
        }
        long[] lens = new long[m.get("block_lens").size()];
        for (int i = 0; i < lens.length; i++) {
            lens[i] = m.get("block_lens").get(i).asLong();
        }
        return new VllmNixlWire.AgentMetadata(
                m.get("engine_id").asText(),
                HexFormat.of().parseHex(m.get("agent_metadata").asText()),
                bases,
                m.get("device_id").asInt(),
                m.get("num_blocks").asInt(),
                lens,
                m.get("kv_cache_layout").asText(),
                m.get("block_size").asInt());
    }

    @Test
    void agentMetadataEncodesAsMsgspecDoes() {
        assertArrayEquals(hex("metadata_msgpack_hex"), goldenMetadata().encode());
        assertEquals(goldenMetadata(), VllmNixlWire.AgentMetadata.decode(hex("metadata_msgpack_hex")));
    }

    @Test
    void handshakePayloadEncodesAsMsgspecDoes() {
        var payload = new VllmNixlWire.HandshakePayload(
                golden.get("compatibility_hash").asText(), goldenMetadata().encode());
        assertArrayEquals(hex("payload_msgpack_hex"), payload.encode());
        var back = VllmNixlWire.HandshakePayload.decode(hex("payload_msgpack_hex"));
        assertEquals(golden.get("compatibility_hash").asText(), back.compatibilityHash());
        assertEquals(goldenMetadata(), back.metadata());
    }

    @Test
    void getMetaRequestIsMsgspecsTuple() {
        assertArrayEquals(hex("get_meta_msg_hex"), VllmNixlWire.encodeGetMeta(0));
        assertEquals(0, VllmNixlWire.decodeGetMeta(hex("get_meta_msg_hex")));
        assertEquals(3, VllmNixlWire.decodeGetMeta(VllmNixlWire.encodeGetMeta(3)));
    }

    @Test
    void compatibilityHashIsVllmsHashFactors() {
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
        assertEquals(golden.get("compatibility_hash").asText(), h.hex());
    }

    @Test
    void releaseNotificationIsRequestColonWorldSize() {
        String text = golden.get("release_notification").asText();
        assertArrayEquals(text.getBytes(), VllmNixlWire.releaseNotification("cmpl-golden-0", 1));
        assertEquals(new VllmNixlWire.Release("cmpl-golden-0", 1), VllmNixlWire.Release.parse(text.getBytes()));
        // vLLM splits at the last colon: request ids may hold colons.
        assertEquals(new VllmNixlWire.Release("a:b:c", 2), VllmNixlWire.Release.parse("a:b:c:2".getBytes()));
        assertNull(VllmNixlWire.Release.parse("jepd-kv-release:x".getBytes()));
        assertNull(VllmNixlWire.Release.parse("nocolon".getBytes()));
    }

    @Test
    void decodingFollowsMsgspecRules() {
        // Missing field: msgspec's "Object missing required field".
        byte[] partial = HexFormat.of().parseHex("81b2636f6d7061746962696c6974795f68617368a178");
        var e = assertThrows(VllmNixlWire.WireException.class, () -> VllmNixlWire.HandshakePayload.decode(partial));
        assertEquals("missing required field `agent_metadata_bytes`", e.getMessage());
        // An array_like encoding is refused, saying so.
        assertThrows(
                VllmNixlWire.WireException.class,
                () -> VllmNixlWire.HandshakePayload.decode(new byte[] {(byte) 0x92, (byte) 0xa1, 'x', (byte) 0xc4, 0}));
        assertThrows(
                VllmNixlWire.WireException.class,
                () -> VllmNixlWire.decodeGetMeta(new byte[] {(byte) 0x92, (byte) 0xa1, 'x', 0}));
        // Newer vLLM asks (get_meta_msg, pp_rank, tp_rank): refused, naming the version JEPD speaks.
        byte[] triple = HexFormat.of().parseHex("93c40c6765745f6d6574615f6d73670000");
        var newer = assertThrows(VllmNixlWire.WireException.class, () -> VllmNixlWire.decodeGetMeta(triple));
        assertTrue(newer.getMessage().contains("newer vLLM"), newer.getMessage());
    }

    @Test
    void bf16RoundsAsTorch() {
        assertEquals((short) 0x3f80, HndBlocks.bf16(1.0f));
        assertEquals((short) 0xbf80, HndBlocks.bf16(-1.0f));
        // 1 + 2^-8 is a tie: to even (1.0); 1 + 3·2^-8 rounds up to 1 + 2^-6... ties to even again.
        assertEquals((short) 0x3f80, HndBlocks.bf16(Float.intBitsToFloat(0x3f808000)));
        assertEquals((short) 0x3f82, HndBlocks.bf16(Float.intBitsToFloat(0x3f818000)));
        assertEquals((short) 0x3f81, HndBlocks.bf16(Float.intBitsToFloat(0x3f808001)));
        assertEquals((short) 0x7f80, HndBlocks.bf16(Float.POSITIVE_INFINITY));
        assertEquals((short) 0x7fc0, HndBlocks.bf16(Float.NaN));
    }
}
