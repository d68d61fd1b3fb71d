package dev.jepd.transfer.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.transfer.vllm.VllmWireVersion;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class KvTransferConfigTest {
    @Test
    void vllmsNixlLineParsesWithDefaults() {
        KvTransferConfig c = KvTransferConfig.parse("{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\"}");
        assertEquals(KvTransferConfig.Role.KV_BOTH, c.role());
        assertTrue(c.isProducer() && c.isConsumer());
        assertEquals(Duration.ofSeconds(480), c.lease());
        assertEquals(KvTransferConfig.FailurePolicy.FAIL, c.failurePolicy());
        assertNull(c.engineId());
        assertEquals(KvTransferConfig.Transport.AUTO, c.transport());
        assertTrue(c.wantsNixl(), "NixlConnector means NIXL where the library is");
        assertEquals(List.of("UCX"), c.nixlBackends());
        assertEquals(256, c.nixlStagingMib());
        if (System.getenv("VLLM_NIXL_SIDE_CHANNEL_PORT") == null) {
            assertEquals(5600, c.sideChannelPort());
        }
    }

    @Test
    void extraConfigIsRead() {
        KvTransferConfig c = KvTransferConfig.parse("{\"kv_connector\":\"JepdConnector\",\"kv_role\":\"kv_consumer\","
                + "\"engine_id\":\"d0\",\"kv_connector_extra_config\":{\"side_channel_port\":0,"
                + "\"side_channel_host\":\"10.0.0.2\",\"lease_seconds\":5,\"transfer_timeout_seconds\":7,"
                + "\"kv_load_failure_policy\":\"recompute\"}}");
        assertFalse(c.isProducer());
        assertTrue(c.isConsumer());
        assertEquals(0, c.sideChannelPort());
        assertEquals("10.0.0.2", c.sideChannelHost());
        assertEquals(Duration.ofSeconds(5), c.lease());
        assertEquals(Duration.ofSeconds(7), c.transferTimeout());
        assertEquals(KvTransferConfig.FailurePolicy.RECOMPUTE, c.failurePolicy());
        assertEquals("d0", c.engineId());
        assertEquals(
                KvTransferConfig.FailurePolicy.RECOMPUTE,
                KvTransferConfig.parse("{\"kv_connector\":\"JepdConnector\",\"kv_role\":\"kv_consumer\","
                                + "\"kv_load_failure_policy\":\"recompute\"}")
                        .failurePolicy(),
                "newer vLLM's top-level field");
    }

    @Test
    void nixlSettings() {
        KvTransferConfig c = KvTransferConfig.parse("{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_producer\","
                + "\"kv_connector_extra_config\":{\"kv_transport\":\"nixl\",\"backends\":[\"UCX\",\"LIBFABRIC\"],"
                + "\"nixl_staging_mib\":8}}");
        assertEquals(KvTransferConfig.Transport.NIXL, c.transport());
        assertEquals(List.of("UCX", "LIBFABRIC"), c.nixlBackends());
        assertEquals(8, c.nixlStagingMib());
        assertTrue(c.wantsNixl());
        KvTransferConfig tcp = KvTransferConfig.parse("{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\","
                + "\"kv_connector_extra_config\":{\"kv_transport\":\"tcp\"}}");
        assertFalse(tcp.wantsNixl());
        assertFalse(KvTransferConfig.parse("{\"kv_connector\":\"JepdConnector\",\"kv_role\":\"kv_both\"}")
                .wantsNixl());
        assertMessage(
                "{\"kv_connector\":\"JepdConnector\",\"kv_role\":\"kv_both\","
                        + "\"kv_connector_extra_config\":{\"kv_transport\":\"nixl\"}}",
                "needs kv_connector NixlConnector");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\","
                        + "\"kv_connector_extra_config\":{\"kv_transport\":\"rdma\"}}",
                "auto, nixl, tcp");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\","
                        + "\"kv_connector_extra_config\":{\"backends\":\"UCX\"}}",
                "list of names");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\","
                        + "\"kv_connector_extra_config\":{\"backends\":[]}}",
                "must name a NIXL backend");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\","
                        + "\"kv_connector_extra_config\":{\"nixl_staging_mib\":0}}",
                "nixl_staging_mib must be positive");
    }

    @Test
    void errorsSayWhatIsWrong() {
        assertMessage(
                "{\"kv_connector\":\"P2pNcclConnector\",\"kv_role\":\"kv_both\"}", "NixlConnector, JepdConnector");
        assertMessage("{\"kv_connector\":\"NixlConnector\"}", "kv_role is required");
        assertMessage("{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_prod\"}", "kv_role kv_prod");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\",\"kv_rol\":1}", "unknown field kv_rol");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\","
                        + "\"kv_connector_extra_config\":{\"lease_second\":1}}",
                "unknown field lease_second");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\","
                        + "\"kv_connector_extra_config\":{\"lease_seconds\":0}}",
                "lease_seconds must be positive");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\","
                        + "\"kv_connector_extra_config\":{\"side_channel_port\":70000}}",
                "0..65535");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\","
                        + "\"kv_connector_extra_config\":{\"kv_load_failure_policy\":\"retry\"}}",
                "fail, recompute");
        assertMessage("not json", "not valid JSON");
        // vLLM fields other connectors use are accepted and ignored.
        KvTransferConfig.parse(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\",\"kv_buffer_device\":\"cuda\"}");
    }

    @Test
    void vllmsWireIsChosenInTheExtraConfig() {
        assertNull(KvTransferConfig.parse("{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_producer\"}")
                .vllm());
        KvTransferConfig c = KvTransferConfig.parse("{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_producer\","
                + "\"kv_connector_extra_config\":{\"side_channel\":\"vllm\"}}");
        assertEquals(new KvTransferConfig.Vllm(16, null, null, "FLASH_ATTN"), c.vllm());
        c = KvTransferConfig.parse("{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_producer\","
                + "\"kv_connector_extra_config\":{\"side_channel\":\"vllm\",\"vllm_block_size\":32,"
                + "\"vllm_compat_hash\":\"abc\",\"vllm_version\":\"0.11.1\",\"vllm_attn_backend\":\"FLASHINFER\"}}");
        assertEquals(new KvTransferConfig.Vllm(32, "abc", "0.11.1", "FLASHINFER"), c.vllm());
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\","
                        + "\"kv_connector_extra_config\":{\"side_channel\":\"vllm\"}}",
                "not yet kv_both");
        assertEquals(
                16,
                KvTransferConfig.parse("{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_consumer\","
                                + "\"kv_connector_extra_config\":{\"side_channel\":\"vllm\"}}")
                        .vllm()
                        .blockSize());
        assertMessage(
                "{\"kv_connector\":\"JepdConnector\",\"kv_role\":\"kv_producer\","
                        + "\"kv_connector_extra_config\":{\"side_channel\":\"vllm\"}}",
                "needs kv_connector NixlConnector");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_producer\","
                        + "\"kv_connector_extra_config\":{\"side_channel\":\"vllm\",\"kv_transport\":\"tcp\"}}",
                "over NIXL");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_producer\","
                        + "\"kv_connector_extra_config\":{\"side_channel\":\"zmq\"}}",
                "accepted: jepd, vllm");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_producer\","
                        + "\"kv_connector_extra_config\":{\"vllm_block_size\":16}}",
                "needs side_channel vllm");
    }

    @Test
    void vllmsWireVersionIsNamedOnAPrefillNodeAndFollowsTheParamsOnADecodeNode() {
        String producer = "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_producer\","
                + "\"kv_connector_extra_config\":{\"side_channel\":\"vllm\"";
        String consumer = producer.replace("kv_producer", "kv_consumer");
        assertEquals(
                VllmWireVersion.V2,
                KvTransferConfig.parse(producer + "}}").vllm().wire());
        assertNull(KvTransferConfig.parse(consumer + "}}").vllm().wire());
        KvTransferConfig.Vllm v = KvTransferConfig.parse(
                        producer + ",\"vllm_wire_version\":12,\"kv_lease_duration\":60,\"vllm_hma_enabled\":false}}")
                .vllm();
        assertEquals(new KvTransferConfig.Vllm(16, null, null, "FLASH_ATTN", VllmWireVersion.V12, 60, false), v);
        assertEquals(
                VllmWireVersion.V2,
                KvTransferConfig.parse(consumer + ",\"vllm_wire_version\":\"2\"}}")
                        .vllm()
                        .wire());
        assertNull(KvTransferConfig.parse(consumer + ",\"vllm_wire_version\":\"auto\"}}")
                .vllm()
                .wire());
        assertMessage(producer + ",\"vllm_wire_version\":\"auto\"}}", "names its version");
        assertMessage(producer + ",\"vllm_wire_version\":4}}", "versions 2");
        assertMessage(producer + ",\"kv_lease_duration\":1}}", "at least 2");
        assertMessage(
                "{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_producer\","
                        + "\"kv_connector_extra_config\":{\"vllm_wire_version\":12}}",
                "needs side_channel vllm");
    }

    private static void assertMessage(String json, String part) {
        KvTransferConfigException e = assertThrows(KvTransferConfigException.class, () -> KvTransferConfig.parse(json));
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
