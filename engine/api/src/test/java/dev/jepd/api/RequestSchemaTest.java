package dev.jepd.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Wrong-type fields are a 400 naming the field; lax values become canonical, as pydantic coerces them. */
class RequestSchemaTest {
    static ObjectNode chat(String extra) throws Exception {
        return (ObjectNode) Json.MAPPER.readTree(
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" + extra + "}");
    }

    static Stream<Arguments> wrongTypes() {
        return Stream.of(
                Arguments.of("\"stream\":\"maybe\"", "stream"),
                Arguments.of("\"stream\":2", "stream"),
                Arguments.of("\"stream\":[]", "stream"),
                Arguments.of("\"logprobs\":\"x\"", "logprobs"),
                Arguments.of("\"top_logprobs\":\"many\"", "top_logprobs"),
                Arguments.of("\"top_logprobs\":1.5", "top_logprobs"),
                Arguments.of("\"logit_bias\":[1,2]", "logit_bias"),
                Arguments.of("\"logit_bias\":{\"abc\":1}", "logit_bias"),
                Arguments.of("\"logit_bias\":{\"5\":\"x\"}", "logit_bias"),
                Arguments.of("\"response_format\":\"json\"", "response_format"),
                Arguments.of("\"response_format\":{\"type\":5}", "response_format.type"),
                Arguments.of("\"tools\":{}", "tools"),
                Arguments.of("\"tools\":[1]", "tools"),
                Arguments.of("\"tool_choice\":5", "tool_choice"),
                Arguments.of("\"tool_choice\":\"sometimes\"", "tool_choice"),
                Arguments.of("\"stream_options\":true", "stream_options"),
                Arguments.of(
                        "\"stream\":true,\"stream_options\":{\"include_usage\":\"x\"}", "stream_options.include_usage"),
                Arguments.of("\"user\":5", "user"),
                Arguments.of("\"user\":{}", "user"),
                Arguments.of("\"ignore_eos\":\"x\"", "ignore_eos"),
                Arguments.of("\"stop_token_ids\":\"1\"", "stop_token_ids"),
                Arguments.of("\"stop_token_ids\":[\"a\"]", "stop_token_ids"),
                Arguments.of("\"n\":\"two\"", "n"),
                Arguments.of("\"n\":2", "n"),
                Arguments.of("\"best_of\":[]", "best_of"),
                Arguments.of("\"best_of\":3", "best_of"),
                Arguments.of("\"stop\":5", "stop"),
                Arguments.of("\"stop\":[1]", "stop"),
                Arguments.of("\"temperature\":\"hot\"", "temperature"),
                Arguments.of("\"temperature\":true", "temperature"),
                Arguments.of("\"seed\":\"x\"", "seed"),
                Arguments.of("\"max_tokens\":1e30", "max_tokens"),
                Arguments.of("\"max_tokens\":1e400", "max_tokens"),
                Arguments.of("\"seed\":-1e400", "seed"),
                Arguments.of("\"model\":5", "model"),
                Arguments.of("\"mm_processor_kwargs\":\"x\"", "mm_processor_kwargs"),
                Arguments.of("\"mm_processor_kwargs\":{\"max_pixels\":\"big\"}", "mm_processor_kwargs.max_pixels"),
                Arguments.of("\"mm_processor_kwargs\":{\"max_pixels\":null}", "mm_processor_kwargs.max_pixels"),
                Arguments.of("\"mm_processor_kwargs\":{\"min_pixels\":-1}", "mm_processor_kwargs.min_pixels"),
                Arguments.of("\"mm_processor_kwargs\":{\"min_pixels\":900,\"max_pixels\":100}", "mm_processor_kwargs"),
                Arguments.of("\"messages\":{}", "messages"),
                Arguments.of("\"request_timeout\":\"soon\"", "request_timeout"),
                Arguments.of("\"kv_transfer_params\":[]", "kv_transfer_params"),
                Arguments.of("\"logprobs\":true", "logprobs"),
                Arguments.of("\"response_format\":{\"type\":\"json_object\"}", "response_format"),
                Arguments.of("\"tools\":[{\"type\":\"function\"}],\"tool_choice\":\"auto\"", "tool_choice"),
                Arguments.of("\"use_beam_search\":true", "use_beam_search"),
                Arguments.of("\"stream_options\":{\"include_usage\":true}", "stream_options"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("wrongTypes")
    void aWrongFieldIsA400NamingIt(String extra, String param) throws Exception {
        ObjectNode body = chat("," + extra);
        ApiException e = assertThrows(ApiException.class, () -> RequestSchema.chat(body));
        assertEquals(400, e.status());
        assertEquals(param, e.param(), e.getMessage());
    }

    @Test
    void laxValuesAreCoercedAsPydanticDoes() throws Exception {
        ObjectNode body = chat(
                ",\"stream\":\"yes\",\"ignore_eos\":1,\"max_tokens\":\"7\",\"seed\":3.0,"
                        + "\"temperature\":\"0.5\",\"n\":1,\"tool_choice\":\"none\",\"tools\":[],\"logprobs\":false,"
                        + "\"response_format\":{\"type\":\"text\"},\"unknown_field\":[1],\"user\":\"u\",\"stop\":[\"a\",\"b\"]");
        RequestSchema.chat(body);
        assertTrue(body.get("stream").isBoolean() && body.get("stream").asBoolean());
        assertTrue(body.get("ignore_eos").asBoolean());
        assertTrue(body.get("max_tokens").isInt());
        assertEquals(7, body.get("max_tokens").asInt());
        assertTrue(body.get("seed").isIntegralNumber());
        assertEquals(0.5, body.get("temperature").asDouble());
    }

    @Test
    void completionFieldsToo() throws Exception {
        for (String bad :
                new String[] {"\"prompt\":5", "\"prompt\":[1,\"a\"]", "\"echo\":\"x\"", "\"logprobs\":true"}) {
            ObjectNode body = (ObjectNode) Json.MAPPER.readTree("{\"model\":\"m\"," + bad + "}");
            ApiException e = assertThrows(ApiException.class, () -> RequestSchema.completion(body), bad);
            assertEquals(400, e.status());
        }
        RequestSchema.completion((ObjectNode) Json.MAPPER.readTree("{\"prompt\":[[1,2],[3]],\"logprobs\":0}"));
    }
}
