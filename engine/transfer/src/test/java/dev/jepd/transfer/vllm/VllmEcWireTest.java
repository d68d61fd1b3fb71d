package dev.jepd.transfer.vllm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** ECCPUConnector's side-channel bytes against goldens msgspec made from vLLM's own struct definitions. */
class VllmEcWireTest {
    static JsonNode golden;
    static String hash;
    static String session;

    @BeforeAll
    static void load() throws Exception {
        try (InputStream in = VllmEcWireTest.class.getResourceAsStream("/ec/vllm-ec-cpu/vllm_ec_cpu_goldens.json")) {
            golden = new ObjectMapper().readTree(in);
        }
        hash = golden.get("mm_hash").asText();
        session = golden.get("session_id").asText();
    }

    static byte[] hex(String field) {
        return HexFormat.of().parseHex(golden.get(field).asText());
    }

    @Test
    void requestsEqualMsgspecsBytesAndDecodeBack() {
        assertArrayEquals(hex("req"), new VllmEcWire.XferReq(hash, "c1", session, null).encode());
        assertArrayEquals(hex("req_no_session"), new VllmEcWire.XferReq(hash, "c1", "", null).encode());
        assertArrayEquals(hex("req_version_1"), new VllmEcWire.XferReq(hash, "c1", session, 1).encode());
        VllmEcWire.XferReq r = VllmEcWire.XferReq.decode(hex("req"));
        assertEquals(new VllmEcWire.XferReq(hash, "c1", session, null), r);
        assertEquals(1, VllmEcWire.XferReq.decode(hex("req_version_1")).connectorVersion());
        assertEquals("", VllmEcWire.XferReq.decode(hex("req_no_session")).sessionId());
    }

    @Test
    void acksEqualMsgspecsBytesAndDecodeBack() {
        byte[] mem = hex("mem_descriptor_3");
        byte[] md = {0, 1, 'N', 'I', 'X', 'L', 'M', 'D'};
        VllmEcWire.XferAck ok =
                new VllmEcWire.XferAck(hash, VllmEcWire.Status.OK, session, new long[] {7, 8, 9, 3}, md, mem);
        assertArrayEquals(hex("ack_ok"), ok.encode());
        assertArrayEquals(
                hex("ack_ok"),
                VllmEcWire.XferAck.encodeOk(hash, session, new long[] {7, 8, 9, 3}, VllmEcWire.Tail.of(md, mem)),
                "the producer's grant with its tail encoded once");
        assertArrayEquals(
                hex("ack_not_ready"),
                VllmEcWire.XferAck.nack(hash, VllmEcWire.Status.NACK_NOT_READY).encode());
        assertArrayEquals(
                hex("ack_missing"),
                VllmEcWire.XferAck.nack(hash, VllmEcWire.Status.NACK_MISSING).encode());

        VllmEcWire.XferAck back = VllmEcWire.XferAck.decode(hex("ack_ok"));
        assertEquals(VllmEcWire.Status.OK, back.status());
        assertEquals(session, back.sessionId());
        assertArrayEquals(new long[] {7, 8, 9, 3}, back.srcBlockIndices());
        assertArrayEquals(md, back.agentMetadata());
        assertArrayEquals(mem, back.memDescriptor());
        VllmEcWire.XferAck nack = VllmEcWire.XferAck.decode(hex("ack_not_ready"));
        assertEquals(VllmEcWire.Status.NACK_NOT_READY, nack.status());
        assertEquals(0, nack.srcBlockIndices().length);
    }

    @Test
    void memDescriptorListsEveryBlock() {
        long base = golden.get("mem_base").asLong();
        long bs = golden.get("block_bytes").asLong();
        assertArrayEquals(hex("mem_descriptor_3"), VllmEcWire.encodeMemDescriptor(base, bs, 3));
        assertEquals(
                List.of(
                        new VllmEcWire.RemoteBlock(base, bs),
                        new VllmEcWire.RemoteBlock(base + bs, bs),
                        new VllmEcWire.RemoteBlock(base + 2 * bs, bs)),
                VllmEcWire.decodeMemDescriptor(hex("mem_descriptor_3")));
    }

    @Test
    void compatibilityHashIsVllmsFormula() {
        for (JsonNode ex : golden.get("hash_examples")) {
            JsonNode f = ex.get("factors");
            assertEquals(
                    ex.get("hash").asText(),
                    VllmEcWire.compatibilityHash(
                            f.get(0).asText(),
                            f.get(1).asText(),
                            f.get(2).asText(),
                            f.get(3).asLong()),
                    f.toString());
        }
    }

    @Test
    void badMessagesAreRefusedNotMisread() {
        // A request sent where an ack is expected (the tag), a status vLLM does not have, and an array-like peer.
        assertThrows(VllmNixlWire.WireException.class, () -> VllmEcWire.XferAck.decode(hex("req")));
        byte[] badStatus = hex("ack_missing");
        badStatus[badStatus.length - 1] = 9;
        assertThrows(VllmNixlWire.WireException.class, () -> VllmEcWire.XferAck.decode(badStatus));
        assertThrows(VllmNixlWire.WireException.class, () -> VllmEcWire.XferReq.decode(new byte[] {(byte) 0x92, 1, 2}));
        assertThrows(VllmNixlWire.WireException.class, () -> VllmEcWire.decodeMemDescriptor(hex("req")));
        assertNull(VllmEcWire.XferReq.decode(hex("req_no_session")).connectorVersion());
        assertEquals(session + ":" + hash, new String(VllmEcWire.completion(session, hash), StandardCharsets.UTF_8));
    }
}
