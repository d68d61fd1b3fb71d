package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.ffi.nixl.NixlLibrary;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * P/D with {@code kv_connector: NixlConnector}: real processes whose blocks travel by NIXL (UCX) reads where
 * {@code libnixl_capi} is installed; and, everywhere, the clear refusal to start when NIXL is demanded but absent.
 */
class PrefillDecodeNixlTest {
    NodeProcess prefill;
    NodeProcess decode;
    NodeProcess proxy;

    @AfterEach
    void stop() throws Exception {
        NodeProcess.closeAll(proxy, decode, prefill);
    }

    static String nixlConfig(String role, String extra) {
        return "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"" + role + "\","
                + "\"kv_connector_extra_config\":{\"side_channel_port\":0,\"kv_transport\":\"nixl\""
                + (extra.isEmpty() ? "" : "," + extra) + "}}";
    }

    @Test
    void demandingNixlWhereItIsAbsentRefusesToStartAndSaysWhere() throws Exception {
        SharedCluster shared = SharedCluster.get();
        String missing = "/nonexistent/jepd-test/libnixl_capi.so";
        IllegalStateException e = assertThrows(
                IllegalStateException.class,
                () -> PrefillDecodeTest.pdNode(
                        "pd-nixl-absent",
                        nixlConfig("kv_consumer", ""),
                        shared.model(),
                        shared.ec(),
                        Map.of("JEPD_NIXL_LIBRARY", missing)));
        assertTrue(e.getMessage().contains("did not start"), e.getMessage());
        String log = Files.readString(NodeProcess.log("pd-nixl-absent"));
        assertTrue(log.contains("libnixl_capi.so not found"), log);
        assertTrue(log.contains(missing + " (no such file)"), log);
        assertTrue(!log.contains("\tat dev.jepd"), "one clear line, no stack trace: " + log);
    }

    @Test
    void withNixlConnectorButNoLibraryTheNodesRunOverTheSideChannel() throws Exception {
        SharedCluster shared = SharedCluster.get();
        Map<String, String> absent = Map.of("JEPD_NIXL_LIBRARY", "/nonexistent/jepd-test/libnixl_capi.so");
        String auto = "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"%s\","
                + "\"kv_connector_extra_config\":{\"side_channel_port\":0}}";
        prefill = PrefillDecodeTest.pdNode(
                "pd-auto-prefill", auto.formatted("kv_producer"), shared.model(), shared.ec(), absent);
        decode = PrefillDecodeTest.pdNode(
                "pd-auto-decode", auto.formatted("kv_consumer"), shared.model(), shared.ec(), absent);
        proxy = PrefillDecodeTest.proxy("pd-auto-proxy", shared.encoder().url(), prefill.url(), decode.url());
        ObjectNode body = PrefillDecodeTest.tokens(40, 8);
        Http.Response single = Http.post(prefill.url() + "/v1/completions", body.toString());
        assertEquals(200, single.status(), single.body());
        Http.Response pd = Http.post(proxy.url() + "/v1/completions", body.toString());
        assertEquals(200, pd.status(), pd.body());
        assertEquals(
                single.json().at("/choices/0/text").asText(),
                pd.json().at("/choices/0/text").asText());
        assertEquals(0, Http.metric(decode.url(), "jepd:kv_nixl_pulls_total"));
        assertEquals(39, Http.metric(decode.url(), "jepd:kv_remote_prefill_tokens_total"));
        String log = Files.readString(NodeProcess.log("pd-auto-decode"));
        assertTrue(log.contains("libnixl_capi not found") && log.contains("kv_transport=tcp"), log);
    }

    @Test
    @Tag("nixl")
    void blocksTravelByNixlAndAnswersEqualASingleNode() throws Exception {
        Assumptions.assumeTrue(
                NixlLibrary.find().isPresent(),
                "needs libnixl_capi (NIXL's C API) and NIXL's UCX plugin: " + NixlLibrary.absentReason());
        SharedCluster shared = SharedCluster.get();
        prefill = PrefillDecodeTest.pdNode(
                "pd-nixl-prefill",
                nixlConfig("kv_producer", "\"nixl_staging_mib\":64"),
                shared.model(),
                shared.ec(),
                Map.of());
        decode = PrefillDecodeTest.pdNode(
                "pd-nixl-decode", nixlConfig("kv_consumer", ""), shared.model(), shared.ec(), Map.of());
        proxy = PrefillDecodeTest.proxy("pd-nixl-proxy", shared.encoder().url(), prefill.url(), decode.url());
        for (String name : List.of("img_112x84", "img_100x61")) {
            var params = EpdNodesTest.sdkParams(EpdNodesTest.image(name));
            String answer = EpdNodesTest.answer(PrefillDecodeTest.sdk(proxy), params);
            assertEquals(EpdNodesTest.golden(name), answer, name);
        }
        double pulls = 2;
        for (int n : new int[] {1, 16, 17, 2000}) {
            ObjectNode body = PrefillDecodeTest.tokens(n, 16);
            // The prefill node is a whole PD node too: without kv_transfer_params it answers by itself.
            Http.Response single = Http.post(prefill.url() + "/v1/completions", body.toString());
            assertEquals(200, single.status(), single.body());
            Http.Response pd = Http.post(proxy.url() + "/v1/completions", body.toString());
            assertEquals(200, pd.status(), pd.body());
            assertEquals(
                    single.json().at("/choices/0/text").asText(),
                    pd.json().at("/choices/0/text").asText(),
                    n + " prompt tokens");
            pulls++;
        }
        assertEquals(pulls, Http.metric(decode.url(), "jepd:kv_nixl_pulls_total"), "every pull went through NIXL");
        // Both caches are f32 on the CPU and registered: every block read in place, nothing staged.
        assertEquals(pulls, Http.metric(decode.url(), "jepd:kv_nixl_direct_pulls_total"), "every pull read in place");
        assertEquals(0, Http.metric(prefill.url(), "jepd:kv_nixl_staged_copies_total"), "no staging copy");
        // Confirmed by NIXL notifications: every held block comes back.
        PrefillDecodeTest.awaitMetric(prefill, "jepd:kv_blocks_held", 0, 30);
        assertEquals(pulls, Http.metric(prefill.url(), "jepd:kv_leases_confirmed_total"));
        String log = Files.readString(NodeProcess.log("pd-nixl-decode"));
        assertTrue(log.contains("kv_transport=nixl"), log);
    }
}
