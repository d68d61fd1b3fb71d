package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.models.tiny.TinyModels;
import dev.jepd.transfer.kv.JepdKvClient;
import dev.jepd.transfer.kv.KvTransferParams;
import dev.jepd.transfer.vllm.HndBlocks;
import dev.jepd.transfer.vllm.VllmDecodePeer;
import dev.jepd.transfer.vllm.VllmNixlWire;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A JEPD prefill node on vLLM's NixlConnector wire ({@code side_channel: vllm}) read by a stand-in for a stock vLLM
 * decode worker ({@link VllmDecodePeer}: ZMQ REQ handshake, msgpack payload, one NIXL READ, the
 * {@code "<id>:1"} notification). The bytes it reads are checked against the same prompt's KV from a second JEPD
 * prefill node, read over JEPD's own side channel as f32 rows and put into vLLM's HND bf16 blocks here. No stock
 * vLLM runs: none can on this machine.
 */
@Tag("nixl")
class VllmDecodeInteropTest {
    static final int VLLM_BLOCK = 16;
    NodeProcess vllmWire;
    NodeProcess jepdWire;
    NodeProcess decode;

    @AfterEach
    void stop() throws Exception {
        NodeProcess.closeAll(decode, jepdWire, vllmWire);
    }

    static NodeProcess prefill(String name, Path model, String extra) throws Exception {
        return node(name, model, "kv_producer", extra);
    }

    static NodeProcess node(String name, Path model, String role, String extra) throws Exception {
        return NodeProcess.serve(
                name,
                model,
                "--served-model-name",
                "tiny",
                "--kv-transfer-config",
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"" + role + "\",\"kv_connector_extra_config\":"
                        + "{\"side_channel_port\":0," + extra + "}}",
                "--max-model-len",
                "4096");
    }

    /** The tiny model's KV layout at JEPD's default block size. */
    static KvLayout layout(Path model) throws Exception {
        JsonNode c = Http.JSON.readTree(Files.readString(model.resolve("config.json")));
        JsonNode t = c.has("text_config") ? c.get("text_config") : c;
        int heads = t.get("num_attention_heads").asInt();
        return new KvLayout(
                t.get("num_hidden_layers").asInt(),
                t.get("num_key_value_heads").asInt(),
                t.get("hidden_size").asInt() / heads,
                16);
    }

    /** Layer {@code l}'s K or V as vLLM holds it: {@code [heads, 16, dim]} bf16 LE blocks, zero past the prompt. */
    static byte[] vllmRegion(KvBlocks b, int promptTokens, int l, boolean value) {
        KvLayout lay = b.layout();
        float[] rows = value ? b.values()[l] : b.keys()[l];
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int j = 0; j < (promptTokens + VLLM_BLOCK - 1) / VLLM_BLOCK; j++) {
            for (int h = 0; h < lay.kvHeads(); h++) {
                for (int t = 0; t < VLLM_BLOCK; t++) {
                    int token = j * VLLM_BLOCK + t;
                    for (int d = 0; d < lay.headDim(); d++) {
                        short bits = token < promptTokens
                                ? HndBlocks.bf16(rows[token * lay.rowFloats() + h * lay.headDim() + d])
                                : 0;
                        out.write(bits & 0xff);
                        out.write((bits >>> 8) & 0xff);
                    }
                }
            }
        }
        return out.toByteArray();
    }

    @Test
    void aVllmDecodeWorkerReadsTheHeldPromptInVllmsLayoutAndItsNotificationFreesIt() throws Exception {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
        Path model =
                TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        vllmWire = prefill(
                "vllm-wire-prefill",
                model,
                "\"side_channel\":\"vllm\",\"vllm_compat_hash\":\"e2e-compat-hash\",\"nixl_staging_mib\":4");
        jepdWire = prefill("jepd-wire-prefill", model, "\"kv_transport\":\"tcp\"");
        int n = 37; // three vLLM blocks, the last 5/16 full
        ObjectNode body = PrefillDecodeTest.forPrefill(PrefillDecodeTest.tokens(n, 1));

        Http.Response r = Http.post(vllmWire.url() + "/v1/completions", body.toString());
        assertEquals(200, r.status(), r.body());
        JsonNode kv = r.json().get("kv_transfer_params");
        List<String> keys = new ArrayList<>();
        kv.fieldNames().forEachRemaining(keys::add);
        assertEquals(
                List.of(
                        "do_remote_prefill",
                        "do_remote_decode",
                        "remote_engine_id",
                        "remote_block_ids",
                        "remote_request_id",
                        "remote_host",
                        "remote_port",
                        "tp_size"),
                keys,
                "vLLM's request_finished keys");
        assertTrue(
                kv.get("do_remote_prefill").asBoolean()
                        && !kv.get("do_remote_decode").asBoolean(),
                kv.toString());
        assertEquals("127.0.0.1", kv.get("remote_host").asText());
        assertEquals(1, kv.get("tp_size").asInt());
        int[] ids = new int[kv.get("remote_block_ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = kv.get("remote_block_ids").get(i).asInt();
        }
        assertEquals(3, ids.length);
        // The engine's own blocks go at once: the copy in vLLM's layout is what is held.
        assertEquals(0, Http.metric(vllmWire.url(), "jepd:kv_blocks_held"));
        assertEquals(1, Http.metric(vllmWire.url(), "jepd:kv_vllm_held_requests"));

        KvLayout layout = layout(model);
        byte[][] read;
        try (VllmDecodePeer peer = new VllmDecodePeer(NixlLibrary.require(), "vllm-decode-e2e")) {
            VllmNixlWire.AgentMetadata m = peer.handshake(
                    kv.get("remote_host").asText(),
                    kv.get("remote_port").asInt(),
                    "e2e-compat-hash",
                    kv.get("remote_engine_id").asText());
            assertEquals(2 * layout.layers(), m.kvCachesBaseAddr().length);
            assertEquals(HndBlocks.blockBytes(layout, VLLM_BLOCK), m.blockLens()[0]);
            assertEquals(VLLM_BLOCK, m.blockSize());
            read = peer.read(m, ids, kv.get("remote_request_id").asText());
        }
        PrefillDecodeTest.awaitMetric(vllmWire, "jepd:kv_vllm_held_requests", 0, 30);
        assertEquals(1, Http.metric(vllmWire.url(), "jepd:kv_vllm_released_total"));

        // The same prompt's KV from a JEPD-wire prefill node: the f32 rows, over JEPD's side channel.
        Http.Response r2 = Http.post(jepdWire.url() + "/v1/completions", body.toString());
        assertEquals(200, r2.status(), r2.body());
        KvTransferParams ref = KvTransferParams.parse(r2.json().get("kv_transfer_params"));
        JepdKvClient client = new JepdKvClient(Duration.ofSeconds(5), Duration.ofSeconds(20));
        KvBlocks rows = client.pull(ref, n, layout);
        client.confirm(ref);
        for (int l = 0; l < layout.layers(); l++) {
            assertArrayEquals(vllmRegion(rows, n, l, false), read[2 * l], "layer " + l + " K");
            assertArrayEquals(vllmRegion(rows, n, l, true), read[2 * l + 1], "layer " + l + " V");
        }
        String log = Files.readString(NodeProcess.log("vllm-wire-prefill"));
        assertTrue(log.contains("on vLLM's wire"), log);
    }

    /**
     * A JEPD decode node on vLLM's wire ({@code side_channel: vllm}, {@code kv_consumer}) pulling from a prefill node
     * that serves vLLM's handshake and layout (here a JEPD node on vLLM's wire: no stock vLLM runs on this
     * machine). The decode node's answer must equal the prefill node's own answer as a single node, token for token.
     */
    @Test
    void aDecodeNodeOnVllmsWirePullsFromAVllmWirePrefillAndAnswersAsASingleNode() throws Exception {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
        Path model =
                TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        vllmWire = prefill(
                "vllm-wire-prefill-2",
                model,
                "\"side_channel\":\"vllm\",\"vllm_version\":\"0.11.1\",\"nixl_staging_mib\":16");
        decode =
                node("vllm-wire-decode", model, "kv_consumer", "\"side_channel\":\"vllm\",\"vllm_version\":\"0.11.1\"");
        double pulls = 0;
        double remoteTokens = 0;
        for (int n : new int[] {1, 16, 17, 40, 300}) {
            ObjectNode body = PrefillDecodeTest.tokens(n, 12);
            Http.Response single = Http.post(vllmWire.url() + "/v1/completions", body.toString());
            assertEquals(200, single.status(), single.body());
            Http.Response p = Http.post(
                    vllmWire.url() + "/v1/completions",
                    PrefillDecodeTest.forPrefill(body).toString());
            assertEquals(200, p.status(), p.body());
            ObjectNode forDecode = body.deepCopy();
            forDecode.set("kv_transfer_params", p.json().get("kv_transfer_params"));
            Http.Response d = Http.post(decode.url() + "/v1/completions", forDecode.toString());
            assertEquals(200, d.status(), d.body());
            assertEquals(
                    single.json().at("/choices/0/text").asText(),
                    d.json().at("/choices/0/text").asText(),
                    n + " prompt tokens");
            pulls++;
            remoteTokens += n - 1;
        }
        assertEquals(pulls, Http.metric(decode.url(), "jepd:kv_nixl_pulls_total"), "every pull read with NIXL");
        assertEquals(remoteTokens, Http.metric(decode.url(), "jepd:kv_remote_prefill_tokens_total"));
        PrefillDecodeTest.awaitMetric(vllmWire, "jepd:kv_vllm_held_requests", 0, 30);
        assertEquals(pulls, Http.metric(vllmWire.url(), "jepd:kv_vllm_released_total"));
    }

    /**
     * vLLM's wire version 12 (the nixl/ package): a JEPD prefill node with {@code vllm_wire_version: 12} answers
     * vLLM's version 12 {@code kv_transfer_params} (one list of block ids per KV-cache group, {@code remote_num_tokens}),
     * keeps the prompt past its short {@code kv_lease_duration} (6 s here) while the version 12 decode stand-in heartbeats, and
     * frees it on the read's notification; the bytes equal the same prompt's KV read over JEPD's own wire.
     */
    @Test
    void aVersion12DecodeWorkerHeartbeatsReadsPerGroupBlocksAndItsNotificationFreesThem() throws Exception {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
        Path model =
                TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        vllmWire = prefill(
                "vllm12-wire-prefill",
                model,
                "\"side_channel\":\"vllm\",\"vllm_wire_version\":12,\"kv_lease_duration\":6,"
                        + "\"vllm_compat_hash\":\"e2e-compat-hash-12\",\"nixl_staging_mib\":4");
        jepdWire = prefill("jepd-wire-prefill-12", model, "\"kv_transport\":\"tcp\"");
        int n = 37;
        ObjectNode body = PrefillDecodeTest.forPrefill(PrefillDecodeTest.tokens(n, 3));

        Http.Response r = Http.post(vllmWire.url() + "/v1/completions", body.toString());
        assertEquals(200, r.status(), r.body());
        JsonNode kv = r.json().get("kv_transfer_params");
        List<String> keys = new ArrayList<>();
        kv.fieldNames().forEachRemaining(keys::add);
        assertEquals(
                List.of(
                        "do_remote_prefill",
                        "do_remote_decode",
                        "remote_engine_id",
                        "remote_block_ids",
                        "remote_request_id",
                        "remote_host",
                        "remote_port",
                        "tp_size",
                        "dcp_size",
                        "pp_size",
                        "remote_num_tokens",
                        "remote_blocks_expiry_time",
                        "transfer_mode"),
                keys,
                "vLLM's version 12 request_finished keys");
        assertEquals(1, kv.get("remote_block_ids").size(), "one KV-cache group");
        assertEquals(n, kv.get("remote_num_tokens").asInt());
        KvTransferParams params = KvTransferParams.parse(kv);
        assertEquals(3, params.remoteBlockIds().length);

        KvLayout layout = layout(model);
        byte[][] read;
        try (VllmDecodePeer peer = new VllmDecodePeer(NixlLibrary.require(), "vllm12-decode-e2e")) {
            VllmNixlWire.AgentMetadataV12 m = peer.handshake12(
                    params.remoteHost(), params.remotePort(), "e2e-compat-hash-12", params.remoteEngineId());
            assertEquals(2 * layout.layers(), m.kvCachesBaseAddr().length);
            assertEquals(HndBlocks.blockBytes(layout, VLLM_BLOCK), m.blockLens()[0]);
            // The request waits on the decode node past the 6 s lease (4 s from each heartbeat); vLLM heartbeats every
            // lease // 6 s, this stand-in twice as often (the machine may be loaded).
            long until = System.nanoTime() + 7_000_000_000L;
            while (System.nanoTime() < until) {
                peer.heartbeat(m, List.of(params.remoteRequestId()));
                Thread.sleep(500);
            }
            assertEquals(1, Http.metric(vllmWire.url(), "jepd:kv_vllm_held_requests"), "heartbeats kept it");
            assertTrue(Http.metric(vllmWire.url(), "jepd:kv_vllm_lease_renewals_total") >= 5);
            read = peer.read12(m, new int[][] {params.remoteBlockIds()}, params.remoteRequestId());
        }
        PrefillDecodeTest.awaitMetric(vllmWire, "jepd:kv_vllm_held_requests", 0, 30);
        assertEquals(1, Http.metric(vllmWire.url(), "jepd:kv_vllm_released_total"));
        assertEquals(0, Http.metric(vllmWire.url(), "jepd:kv_vllm_expired_total"));

        Http.Response r2 = Http.post(jepdWire.url() + "/v1/completions", body.toString());
        assertEquals(200, r2.status(), r2.body());
        KvTransferParams ref = KvTransferParams.parse(r2.json().get("kv_transfer_params"));
        JepdKvClient client = new JepdKvClient(Duration.ofSeconds(5), Duration.ofSeconds(20));
        KvBlocks rows = client.pull(ref, n, layout);
        client.confirm(ref);
        for (int l = 0; l < layout.layers(); l++) {
            assertArrayEquals(vllmRegion(rows, n, l, false), read[2 * l], "layer " + l + " K");
            assertArrayEquals(vllmRegion(rows, n, l, true), read[2 * l + 1], "layer " + l + " V");
        }
        String log = Files.readString(NodeProcess.log("vllm12-wire-prefill"));
        assertTrue(log.contains("on vLLM's wire version 12"), log);
    }

    /**
     * A JEPD decode node on {@code vllm_wire_version: auto} pulls from a version 12 prefill node (a JEPD node on vLLM's
     * version 12 wire: no stock vLLM runs here), the computed version 12 hashes agreeing; answers equal the prefill
     * node's own as a single node.
     */
    @Test
    void anAutoDecodeNodePullsFromAVersion12PrefillAndAnswersAsASingleNode() throws Exception {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
        Path model =
                TinyModels.ensureGolden(Path.of("target", "tiny-qwen2.5-vl").toAbsolutePath());
        vllmWire = prefill(
                "vllm12-wire-prefill-2",
                model,
                "\"side_channel\":\"vllm\",\"vllm_wire_version\":12,\"vllm_version\":\"0.12.0\","
                        + "\"nixl_staging_mib\":16");
        decode = node(
                "vllm12-wire-decode",
                model,
                "kv_consumer",
                "\"side_channel\":\"vllm\",\"vllm_wire_version\":\"auto\",\"vllm_version\":\"0.12.0\"");
        double pulls = 0;
        for (int n : new int[] {1, 17, 40}) {
            ObjectNode body = PrefillDecodeTest.tokens(n, 13);
            Http.Response single = Http.post(vllmWire.url() + "/v1/completions", body.toString());
            assertEquals(200, single.status(), single.body());
            Http.Response p = Http.post(
                    vllmWire.url() + "/v1/completions",
                    PrefillDecodeTest.forPrefill(body).toString());
            assertEquals(200, p.status(), p.body());
            assertTrue(p.json().at("/kv_transfer_params/remote_block_ids/0").isArray(), p.body());
            ObjectNode forDecode = body.deepCopy();
            forDecode.set("kv_transfer_params", p.json().get("kv_transfer_params"));
            Http.Response d = Http.post(decode.url() + "/v1/completions", forDecode.toString());
            assertEquals(200, d.status(), d.body());
            assertEquals(
                    single.json().at("/choices/0/text").asText(),
                    d.json().at("/choices/0/text").asText(),
                    n + " prompt tokens");
            pulls++;
        }
        assertEquals(pulls, Http.metric(decode.url(), "jepd:kv_nixl_pulls_total"), "every pull read with NIXL");
        PrefillDecodeTest.awaitMetric(vllmWire, "jepd:kv_vllm_held_requests", 0, 30);
        assertEquals(pulls, Http.metric(vllmWire.url(), "jepd:kv_vllm_released_total"));
    }
}
