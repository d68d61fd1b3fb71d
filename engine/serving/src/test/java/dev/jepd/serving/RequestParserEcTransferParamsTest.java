package dev.jepd.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.engine.connector.EcTransferParams;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code ec_transfer_params} as the proxy copies it from the encoders' answers: keyed by item, each a connector's. */
class RequestParserEcTransferParamsTest {
    static RequestParser.Chat chat(String ecParams) {
        return RequestParser.chat(
                Json.parseObject(("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
                                + (ecParams == null ? "" : ",\"ec_transfer_params\":" + ecParams) + "}")
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }

    @Test
    void absentNullAndEmptyMeanNone() {
        assertTrue(chat(null).ecTransferParams().isEmpty());
        assertTrue(chat("null").ecTransferParams().isEmpty());
        assertTrue(chat("{}").ecTransferParams().isEmpty());
    }

    @Test
    void eachItemsParamsAreReadAsTheConnectorWroteThem() {
        Map<String, EcTransferParams> p =
                chat("{\"k1\":{\"remote_engine_id\":\"e0\",\"remote_host\":\"127.0.0.1\",\"remote_port\":5700},\"k2\":{}}")
                        .ecTransferParams();
        assertEquals(new EcTransferParams("e0", "127.0.0.1", 5700), p.get("k1"));
        assertTrue(p.get("k2").isNone());
        assertEquals(2, p.size());
    }

    @Test
    void malformedParamsAreA400NamingTheItem() {
        ApiException notObject = assertThrows(ApiException.class, () -> chat("[1]"));
        assertEquals(400, notObject.status());
        assertEquals("ec_transfer_params", notObject.param());
        ApiException item = assertThrows(ApiException.class, () -> chat("{\"k1\":5}"));
        assertEquals("ec_transfer_params.k1", item.param());
        ApiException port = assertThrows(
                ApiException.class, () -> chat("{\"k1\":{\"remote_host\":\"127.0.0.1\",\"remote_port\":70000}}"));
        assertEquals("ec_transfer_params.k1", port.param());
        assertTrue(port.getMessage().contains("remote_port"), port.getMessage());
    }
}
