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
        int tpSize) {

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
        JsonNode b = node.get("remote_block_ids");
        if (b != null && !b.isNull()) {
            if (!b.isArray()) {
                throw new IllegalArgumentException("kv_transfer_params.remote_block_ids must be an array of ints");
            }
            if (!b.isEmpty() && b.get(0).isArray()) {
                throw new IllegalArgumentException("kv_transfer_params.remote_block_ids holds one list per KV-cache"
                        + " group: a newer vLLM NixlConnector wire than JEPD speaks (NIXL_CONNECTOR_VERSION 2, flat"
                        + " block ids)");
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
        if (prefill) {
            if (blocks == null || request == null || host == null || port <= 0 || port > 65535) {
                throw new IllegalArgumentException("kv_transfer_params with do_remote_prefill needs remote_block_ids,"
                        + " remote_request_id, remote_host and remote_port (1..65535)");
            }
            if (tp != 1) {
                throw new IllegalArgumentException("kv_transfer_params.tp_size " + tp + " is not supported (only 1)");
            }
        }
        return new KvTransferParams(decode, prefill, engine, blocks, request, host, port, tp);
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
            var arr = o.putArray("remote_block_ids");
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
                && tpSize == k.tpSize;
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
