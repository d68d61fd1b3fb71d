package dev.jepd.transfer.kv;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Arrays;

/**
 * vLLM's {@code kv_transfer_params} (DESIGN §4.4), as the proxy sends them to a prefill node
 * ({@code do_remote_decode}) and as the prefill node answers them for the decode node ({@code do_remote_prefill}
 * with where the blocks are).
 *
 * @param doRemoteDecode this request only prefills here; its blocks are held for a decode node
 * @param doRemotePrefill this request's prompt KV lives on {@code remoteHost:remotePort}
 */
public record KvTransferParams(
        boolean doRemoteDecode,
        boolean doRemotePrefill,
        String remoteEngineId,
        int[] remoteBlockIds,
        String remoteRequestId,
        String remoteHost,
        int remotePort,
        int tpSize,
        int remoteNumTokens,
        boolean perGroupBlockIds) {

    /**
     * JEPD's and vLLM's version 2 shape: flat {@code remote_block_ids}, no {@code remote_num_tokens}.
     */
    public KvTransferParams(
            boolean doRemoteDecode,
            boolean doRemotePrefill,
            String remoteEngineId,
            int[] remoteBlockIds,
            String remoteRequestId,
            String remoteHost,
            int remotePort,
            int tpSize) {
        this(
                doRemoteDecode,
                doRemotePrefill,
                remoteEngineId,
                remoteBlockIds,
                remoteRequestId,
                remoteHost,
                remotePort,
                tpSize,
                -1,
                false);
    }

    /** Reads the request field; null or JSON null means none. Malformed remote fields are an error here. */
    public static KvTransferParams parse(JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return null;
        }
        if (!node.isObject()) {
            throw new IllegalArgumentException("kv_transfer_params must be an object, got " + node.getNodeType());
        }
        boolean decode = node.path("do_remote_decode").asBoolean(false);
        boolean prefill = node.path("do_remote_prefill").asBoolean(false);
        if (decode && prefill) {
            throw new IllegalArgumentException(
                    "kv_transfer_params: do_remote_decode and do_remote_prefill cannot both be true");
        }
        int[] blocks = null;
        boolean grouped = false;
        JsonNode b = node.get("remote_block_ids");
        if (b != null && !b.isNull()) {
            if (!b.isArray()) {
                throw new IllegalArgumentException("kv_transfer_params.remote_block_ids must be an array of ints");
            }
            if (!b.isEmpty() && b.get(0).isArray()) {
                // vLLM's NixlConnector version 12: one list per KV-cache group. JEPD's models (Qwen-VL) have one
                // group of full-attention layers; several groups (hybrid sliding-window/Mamba models) are refused.
                if (b.size() != 1) {
                    throw new IllegalArgumentException("kv_transfer_params.remote_block_ids holds " + b.size()
                            + " KV-cache groups; JEPD reads one (a model of full-attention layers only)");
                }
                grouped = true;
                b = b.get(0);
            }
            blocks = new int[b.size()];
            for (int i = 0; i < blocks.length; i++) {
                if (!b.get(i).canConvertToInt() || b.get(i).asInt() < 0) {
                    throw new IllegalArgumentException(
                            "kv_transfer_params.remote_block_ids[" + i + "] is not a block id: " + b.get(i));
                }
                blocks[i] = b.get(i).asInt();
            }
        }
        String engine = text(node, "remote_engine_id");
        String request = text(node, "remote_request_id");
        String host = text(node, "remote_host");
        JsonNode p = node.get("remote_port");
        int port = p == null || p.isNull() ? -1 : p.asInt(-1);
        int tp = node.path("tp_size").asInt(1);
        JsonNode nt = node.get("remote_num_tokens");
        int numTokens = nt == null || nt.isNull() ? -1 : nt.asInt(-1);
        for (String one : new String[] {"pp_size", "dcp_size"}) {
            if (prefill && node.path(one).asInt(1) != 1) {
                throw new IllegalArgumentException(
                        "kv_transfer_params." + one + " " + node.get(one) + " is not supported (only 1)");
            }
        }
        String mode = text(node, "transfer_mode");
        if (prefill && mode != null && !mode.equals("pull")) {
            throw new IllegalArgumentException("kv_transfer_params.transfer_mode " + mode
                    + " is not supported: JEPD reads the prefill node's blocks (pull)");
        }
        if (prefill) {
            if (blocks == null || request == null || host == null || port <= 0 || port > 65535) {
                throw new IllegalArgumentException("kv_transfer_params with do_remote_prefill needs remote_block_ids,"
                        + " remote_request_id, remote_host and remote_port (1..65535)");
            }
            if (tp != 1) {
                throw new IllegalArgumentException("kv_transfer_params.tp_size " + tp + " is not supported (only 1)");
            }
        }
        return new KvTransferParams(decode, prefill, engine, blocks, request, host, port, tp, numTokens, grouped);
    }

    /**
     * What a prefill node on vLLM's NixlConnector wire version 12 answers ({@code request_finished} of vLLM's pull
     * scheduler): the block ids as the one KV-cache group, and the prompt's token count.
     */
    public static KvTransferParams heldPerGroup(
            String engineId, int[] blockIds, String requestId, String host, int port, int promptTokens) {
        return new KvTransferParams(
                false, true, engineId, blockIds.clone(), requestId, host, port, 1, promptTokens, true);
    }

    /** What a prefill node answers: where the decode node finds the held blocks. */
    public static KvTransferParams held(String engineId, int[] blockIds, String requestId, String host, int port) {
        return new KvTransferParams(false, true, engineId, blockIds.clone(), requestId, host, port, 1);
    }

    /** The JSON object, field names as vLLM's NixlConnector writes them. */
    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("do_remote_prefill", doRemotePrefill);
        o.put("do_remote_decode", doRemoteDecode);
        o.put("remote_engine_id", remoteEngineId);
        if (remoteBlockIds == null) {
            o.putNull("remote_block_ids");
        } else {
            var arr = perGroupBlockIds ? o.putArray("remote_block_ids").addArray() : o.putArray("remote_block_ids");
            for (int id : remoteBlockIds) {
                arr.add(id);
            }
        }
        o.put("remote_request_id", remoteRequestId);
        o.put("remote_host", remoteHost);
        if (remotePort > 0) {
            o.put("remote_port", remotePort);
        } else {
            o.putNull("remote_port");
        }
        o.put("tp_size", tpSize);
        if (perGroupBlockIds) {
            // vLLM's version 12 fields, in its order; JEPD is one dcp/pp rank, its decode node reads (pull), and it
            // keeps no blocks for a turn-2 readback (no expiry time to export).
            o.put("dcp_size", 1);
            o.put("pp_size", 1);
            if (remoteNumTokens >= 0) {
                o.put("remote_num_tokens", remoteNumTokens);
            }
            o.putNull("remote_blocks_expiry_time");
            o.put("transfer_mode", "pull");
        }
        return o;
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof KvTransferParams k
                && doRemoteDecode == k.doRemoteDecode
                && doRemotePrefill == k.doRemotePrefill
                && java.util.Objects.equals(remoteEngineId, k.remoteEngineId)
                && Arrays.equals(remoteBlockIds, k.remoteBlockIds)
                && java.util.Objects.equals(remoteRequestId, k.remoteRequestId)
                && java.util.Objects.equals(remoteHost, k.remoteHost)
                && remotePort == k.remotePort
                && tpSize == k.tpSize
                && remoteNumTokens == k.remoteNumTokens
                && perGroupBlockIds == k.perGroupBlockIds;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(remoteEngineId, remoteRequestId, remoteHost, remotePort)
                ^ Arrays.hashCode(remoteBlockIds);
    }

    @Override
    public String toString() {
        return toJson().toString();
    }
}
