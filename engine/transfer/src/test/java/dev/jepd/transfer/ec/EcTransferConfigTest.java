package dev.jepd.transfer.ec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class EcTransferConfigTest {
    @Test
    void parsesVllmsDocumentedProducerConfig() {
        EcTransferConfig c = EcTransferConfig.parse("""
                {"ec_connector":"ECExampleConnector","ec_role":"ec_producer",
                 "ec_connector_extra_config":{"shared_storage_path":"/tmp/ec_cache"}}""");
        assertEquals("ECExampleConnector", c.connector());
        assertEquals(EcTransferConfig.Role.EC_PRODUCER, c.role());
        assertTrue(c.isProducer());
        assertFalse(c.isConsumer());
        assertEquals(Path.of("/tmp/ec_cache"), c.sharedStoragePath());
        assertEquals(OptionalLong.empty(), c.capacityBytes());
        assertNull(c.engineId());
    }

    @ParameterizedTest
    @CsvSource({"ec_producer, true, false", "ec_consumer, false, true", "ec_both, true, true"})
    void roles(String role, boolean producer, boolean consumer) {
        EcTransferConfig c = EcTransferConfig.parse("{\"ec_connector\":\"JepdSharedStorageConnector\",\"ec_role\":\""
                + role + "\",\"ec_connector_extra_config\":{\"shared_storage_path\":\"/x\"}}");
        assertEquals(producer, c.isProducer());
        assertEquals(consumer, c.isConsumer());
        assertEquals(role, c.role().jsonName());
    }

    @ParameterizedTest
    @ValueSource(strings = {"ECExampleConnector", "ECSharedStorageConnector", "JepdSharedStorageConnector"})
    void acceptedConnectorNames(String name) {
        EcTransferConfig c = EcTransferConfig.parse("{\"ec_connector\":\"" + name
                + "\",\"ec_role\":\"ec_consumer\",\"ec_connector_extra_config\":{\"shared_storage_path\":\"/x\"}}");
        assertEquals(name, c.connector());
    }

    @Test
    void unknownConnectorListsTheAcceptedOnes() {
        EcConfigException e = assertThrows(
                EcConfigException.class,
                () -> EcTransferConfig.parse("{\"ec_connector\":\"MooncakeStoreECConnector\",\"ec_role\":\"ec_both\","
                        + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"/x\"}}"));
        assertEquals(
                "ec_connector MooncakeStoreECConnector is not supported; accepted: ECExampleConnector, "
                        + "ECSharedStorageConnector, JepdSharedStorageConnector, RblnECNixlConnector, JepdNixlECConnector, ECCPUConnector",
                e.getMessage());
    }

    @Test
    void badRoleIsAValidationError() {
        EcConfigException e = assertThrows(
                EcConfigException.class,
                () -> EcTransferConfig.parse("{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"kv_producer\","
                        + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"/x\"}}"));
        assertEquals(
                "ec_role kv_producer is not supported; accepted: ec_producer, ec_consumer, ec_both", e.getMessage());
        EcConfigException missing = assertThrows(
                EcConfigException.class,
                () -> EcTransferConfig.parse("{\"ec_connector\":\"ECExampleConnector\","
                        + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"/x\"}}"));
        assertTrue(missing.getMessage().startsWith("ec_role is required"), missing.getMessage());
    }

    @Test
    void sharedStoragePathIsRequired() {
        for (String extra : new String[] {
            "",
            ",\"ec_connector_extra_config\":{}",
            ",\"ec_connector_extra_config\":{\"shared_storage_path\":\"\"}",
            ",\"ec_connector_extra_config\":{\"shared_storage_path\":42}"
        }) {
            EcConfigException e = assertThrows(
                    EcConfigException.class,
                    () -> EcTransferConfig.parse(
                            "{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"ec_producer\"" + extra + "}"));
            assertTrue(
                    e.getMessage().startsWith("ec_connector_extra_config.shared_storage_path is required"),
                    e.getMessage());
        }
    }

    @Test
    void capacityBytes() {
        String base = "{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"ec_both\","
                + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"/x\",\"capacity_bytes\":";
        assertEquals(
                OptionalLong.of(10_000_000_000L),
                EcTransferConfig.parse(base + "10000000000}}").capacityBytes());
        assertEquals(
                OptionalLong.of(1_000_000_000L),
                EcTransferConfig.parse(base + "1e9}}").capacityBytes());
        assertEquals(
                OptionalLong.of(4096), EcTransferConfig.parse(base + "4096}}").capacityBytes());
        for (String bad : new String[] {"0", "-1", "1.5", "\"10GB\"", "true", "1e30"}) {
            EcConfigException e =
                    assertThrows(EcConfigException.class, () -> EcTransferConfig.parse(base + bad + "}}"));
            assertTrue(e.getMessage().startsWith("ec_connector_extra_config.capacity_bytes must be"), e.getMessage());
        }
    }

    @Test
    void otherVllmFieldsAreAcceptedAndIgnored() {
        EcTransferConfig c = EcTransferConfig.parse("""
                {"ec_connector":"ECExampleConnector","ec_role":"ec_consumer","engine_id":"pd-0",
                 "ec_buffer_device":"cuda","ec_buffer_size":1e9,"ec_rank":1,"ec_parallel_size":2,
                 "ec_ip":"127.0.0.1","ec_port":14579,"ec_connector_module_path":null,
                 "ec_connector_extra_config":{"shared_storage_path":"/x","some_other_connector_key":null}}""");
        assertEquals("pd-0", c.engineId());
        assertEquals(Path.of("/x"), c.sharedStoragePath());
    }

    @Test
    void unknownFieldsAreRefused() {
        EcConfigException e = assertThrows(
                EcConfigException.class,
                () -> EcTransferConfig.parse("{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"ec_consumer\","
                        + "\"ec_conector_extra_config\":{\"shared_storage_path\":\"/x\"}}"));
        assertTrue(
                e.getMessage().startsWith("--ec-transfer-config has an unknown field ec_conector_extra_config"),
                e.getMessage());
    }

    @Test
    void malformedJson() {
        assertThrows(EcConfigException.class, () -> EcTransferConfig.parse("{\"ec_connector\":"));
        assertThrows(EcConfigException.class, () -> EcTransferConfig.parse("null"));
        assertThrows(EcConfigException.class, () -> EcTransferConfig.parse("[]"));
        assertThrows(EcConfigException.class, () -> EcTransferConfig.parse("{}"));
    }

    /** vllm-rbln's documented PD and encoder configs (the seed's serve_ec_llm.sh and serve_ec_encoder.sh). */
    @Test
    void parsesRblnsNixlConnectorInBothRolesWithoutASharedDirectory() {
        EcTransferConfig pd = EcTransferConfig.parse("""
                {"ec_connector":"RblnECNixlConnector","ec_role":"ec_consumer",
                 "ec_connector_extra_config":{"pull_host":"0.0.0.0","pull_port":19500}}""");
        assertTrue(pd.isNixl());
        assertEquals("0.0.0.0", pd.pullHost());
        assertEquals(19500, pd.pullPort());
        assertEquals(256L << 20, pd.nixlBufferBytes());
        EcTransferConfig enc = EcTransferConfig.parse("""
                {"ec_connector":"RblnECNixlConnector","ec_role":"ec_producer",
                 "ec_connector_extra_config":{"llm_host":"127.0.0.1","llm_pull_port":19500,"nixl_buffer_mib":64}}""");
        assertTrue(enc.isNixl());
        assertEquals("127.0.0.1", enc.llmHost());
        assertEquals(19500, enc.llmPullPort());
        assertEquals(64L << 20, enc.nixlBufferBytes());
        assertFalse(EcTransferConfig.parse("{\"ec_connector\":\"ECExampleConnector\",\"ec_role\":\"ec_both\","
                        + "\"ec_connector_extra_config\":{\"shared_storage_path\":\"/x\"}}")
                .isNixl());
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{\"ec_connector\":\"RblnECNixlConnector\",\"ec_role\":\"ec_consumer\"}",
                "{\"ec_connector\":\"RblnECNixlConnector\",\"ec_role\":\"ec_consumer\",\"ec_connector_extra_config\":{\"pull_port\":0}}",
                "{\"ec_connector\":\"RblnECNixlConnector\",\"ec_role\":\"ec_producer\",\"ec_connector_extra_config\":{\"llm_pull_port\":\"x\"}}",
                "{\"ec_connector\":\"JepdNixlECConnector\",\"ec_role\":\"ec_both\",\"ec_connector_extra_config\":{\"pull_port\":1}}",
                "{\"ec_connector\":\"RblnECNixlConnector\",\"ec_role\":\"ec_producer\",\"ec_connector_extra_config\":{\"llm_pull_port\":9,\"nixl_buffer_mib\":-1}}"
            })
    void aNixlConfigWithoutItsPortsOrWithBadValuesIsRefusedAtStartUp(String json) {
        EcConfigException e = assertThrows(EcConfigException.class, () -> EcTransferConfig.parse(json));
        assertTrue(e.getMessage().contains("ec_connector_extra_config."), e.getMessage());
    }
}
