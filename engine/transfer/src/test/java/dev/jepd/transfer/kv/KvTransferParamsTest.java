package dev.jepd.transfer.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class KvTransferParamsTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void theProxysPrefillRequestParses() throws Exception {
        KvTransferParams p = KvTransferParams.parse(
                JSON.readTree(
                        "{\"do_remote_decode\":true,\"do_remote_prefill\":false,"
                                + "\"remote_engine_id\":null,\"remote_block_ids\":null,\"remote_host\":null,\"remote_port\":null}"));
        assertTrue(p.doRemoteDecode());
        assertNull(p.remoteBlockIds());
        assertNull(KvTransferParams.parse(null));
        assertNull(KvTransferParams.parse(JSON.readTree("null")));
    }

    @Test
    void thePrefillAnswerHasVllmsFieldsAndRoundTrips() throws Exception {
        KvTransferParams held = KvTransferParams.held("eng", new int[] {3, 4}, "req#1", "127.0.0.1", 5600);
        String json = held.toJson().toString();
        assertEquals(
                "{\"do_remote_prefill\":true,\"do_remote_decode\":false,\"remote_engine_id\":\"eng\","
                        + "\"remote_block_ids\":[3,4],\"remote_request_id\":\"req#1\",\"remote_host\":\"127.0.0.1\","
                        + "\"remote_port\":5600,\"tp_size\":1}",
                json);
        KvTransferParams back = KvTransferParams.parse(JSON.readTree(json));
        assertEquals(held, back);
        assertArrayEquals(new int[] {3, 4}, back.remoteBlockIds());
    }

    @Test
    void incompleteOrContradictoryParamsAreErrors() throws Exception {
        for (String bad : new String[] {
            "{\"do_remote_prefill\":true}",
            "{\"do_remote_prefill\":true,\"remote_block_ids\":[1],\"remote_request_id\":\"r\","
                    + "\"remote_host\":\"h\",\"remote_port\":0}",
            "{\"do_remote_prefill\":true,\"remote_block_ids\":[-1],\"remote_request_id\":\"r\","
                    + "\"remote_host\":\"h\",\"remote_port\":1}",
            "{\"do_remote_prefill\":true,\"remote_block_ids\":[1],\"remote_request_id\":\"r\","
                    + "\"remote_host\":\"h\",\"remote_port\":1,\"tp_size\":2}",
            "{\"do_remote_prefill\":true,\"do_remote_decode\":true}",
            // vLLM's version 12 wire: several KV-cache groups (a hybrid model), another pp/dcp size, push mode.
            "{\"do_remote_prefill\":true,\"remote_block_ids\":[[1,2],[3]],\"remote_request_id\":\"r\","
                    + "\"remote_host\":\"h\",\"remote_port\":1}",
            "{\"do_remote_prefill\":true,\"remote_block_ids\":[[1,2]],\"remote_request_id\":\"r\","
                    + "\"remote_host\":\"h\",\"remote_port\":1,\"pp_size\":2}",
            "{\"do_remote_prefill\":true,\"remote_block_ids\":[[1,2]],\"remote_request_id\":\"r\","
                    + "\"remote_host\":\"h\",\"remote_port\":1,\"transfer_mode\":\"push\"}",
            "[1]"
        }) {
            assertThrows(IllegalArgumentException.class, () -> KvTransferParams.parse(JSON.readTree(bad)), bad);
        }
    }

    @Test
    void vllmVersion12ParamsAreOneListPerKvCacheGroup() throws Exception {
        com.fasterxml.jackson.databind.JsonNode golden;
        try (var in = getClass().getResourceAsStream("/kv/vllm-nixl/vllm_nixl12_goldens.json")) {
            golden = JSON.readTree(in).get("kv_transfer_params");
        }
        KvTransferParams p = KvTransferParams.parse(golden);
        assertEquals(
                KvTransferParams.heldPerGroup(
                        "jepd-golden-engine", new int[] {3, 4, 5}, "cmpl-golden-0", "127.0.0.1", 5600, 37),
                p);
        // What a JEPD prefill node answers is what vLLM's request_finished answers (JSON objects compare unordered).
        assertEquals(golden, p.toJson());
        assertEquals(37, p.remoteNumTokens());
        assertEquals(true, p.perGroupBlockIds());
        // The version 2 shape stays flat.
        assertEquals(
                "[3,4,5]",
                KvTransferParams.held("e", new int[] {3, 4, 5}, "r", "h", 1)
                        .toJson()
                        .get("remote_block_ids")
                        .toString());
    }
}
