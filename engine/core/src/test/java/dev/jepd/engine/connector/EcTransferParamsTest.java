package dev.jepd.engine.connector;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** {@code ec_transfer_params} as JSON, and the EcConnector defaults that keep today's connectors working. */
class EcTransferParamsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void noneIsAnEmptyObjectAndReadsBackAsNone() throws Exception {
        assertEquals("{}", JSON.writeValueAsString(EcTransferParams.none()));
        EcTransferParams back = JSON.readValue("{}", EcTransferParams.class);
        assertTrue(back.isNone());
        assertEquals(EcTransferParams.none(), back);
    }

    @Test
    void aPeerRoundTripsUnderVllmStyleKeys() throws Exception {
        EcTransferParams p = new EcTransferParams("enc-1", "10.0.0.7", 14579);
        String json = JSON.writeValueAsString(p);
        assertEquals(
                JSON.readTree("{\"remote_engine_id\":\"enc-1\",\"remote_host\":\"10.0.0.7\",\"remote_port\":14579}"),
                JSON.readTree(json));
        EcTransferParams back = JSON.readValue(json, EcTransferParams.class);
        assertEquals(p, back);
        assertFalse(back.isNone());
    }

    @Test
    void vllmsEcCpuAnnouncementRoundTripsAndIgnoresWhatConsumersIgnore() throws Exception {
        // As a vLLM ECCPUConnector producer answers it (wire 2), with the item_indices its proxies add.
        String announced = "{\"item_indices\":[0],\"metadata\":{\"image_grid_thw\":[1,44,80]},"
                + "\"peer_host\":\"127.0.0.1\",\"peer_port\":5610,\"size_bytes\":28835840,\"shape\":[880,16384]}";
        EcTransferParams p = JSON.readValue(announced, EcTransferParams.class);
        assertTrue(p.isVllmCpu());
        assertFalse(p.isNone());
        assertEquals(5610, p.peerPort());
        assertEquals(28835840L, p.sizeBytes());
        assertEquals(List.of(880L, 16384L), p.shape());
        JsonNode back = JSON.readTree(JSON.writeValueAsString(p));
        assertEquals(
                ((com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(announced)).without("item_indices"),
                back);
        // An evicted item is announced with metadata only: nothing to pull.
        assertTrue(JSON.readValue("{\"metadata\":{}}", EcTransferParams.class).isNone());
        assertThrows(
                IllegalArgumentException.class,
                () -> EcTransferParams.vllmCpu("127.0.0.1", 5610, 100, List.of(880L), null));
        assertThrows(IllegalArgumentException.class, () -> EcTransferParams.vllmCpu("h", 0, 100, null, null));
    }

    @Test
    void aHostWithoutAPortOrABadPortIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new EcTransferParams("e", "h", 0));
        assertThrows(IllegalArgumentException.class, () -> new EcTransferParams("e", null, 80));
        assertThrows(IllegalArgumentException.class, () -> new EcTransferParams("e", "h", 70000));
    }

    @Test
    void theDefaultsDelegateToLoadAndSave() {
        List<String> calls = new ArrayList<>();
        EcEntry entry = new EcEntry("k", 1, 2, new float[] {1, 2});
        EcConnector c = new EcConnector() {
            @Override
            public boolean contains(String key) {
                return false;
            }

            @Override
            public Optional<EcEntry> load(String key, int expectedTokens, int expectedDim) {
                calls.add("load " + key + " " + expectedTokens + "x" + expectedDim);
                return Optional.of(entry);
            }

            @Override
            public void save(String key, float[] rows, int numTokens, int dim) {
                calls.add("save " + key + " " + numTokens + "x" + dim);
            }

            @Override
            public long hits() {
                return 0;
            }

            @Override
            public long misses() {
                return 0;
            }

            @Override
            public long saves() {
                return 0;
            }

            @Override
            public long evictions() {
                return 0;
            }

            @Override
            public long bytesStored() {
                return 0;
            }
        };
        assertSame(EcTransferParams.none(), c.publish("k", new float[] {1, 2}, 1, 2));
        assertEquals(Optional.of(entry), c.lookup("k", EcTransferParams.none(), 1, 2));
        assertEquals(List.of("save k 1x2", "load k 1x2"), calls);
    }
}
