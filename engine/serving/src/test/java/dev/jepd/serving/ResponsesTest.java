package dev.jepd.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The response bodies carry the keys vLLM's pydantic models write (vLLM's {@code chat_completion/protocol.py},
 * {@code completion/protocol.py} and the model card), so a client or proxy written against vLLM finds each one.
 */
class ResponsesTest {
    private static Set<String> keys(JsonNode n) {
        Set<String> out = new TreeSet<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }

    @Test
    void chatCompletionHasVllmsKeys() {
        JsonNode o = new Responses("chatcmpl-1", "m", true).complete("hi", "stop", null, 3, 1, null);
        assertEquals(
                new TreeSet<>(List.of(
                        "id",
                        "object",
                        "created",
                        "model",
                        "choices",
                        "service_tier",
                        "system_fingerprint",
                        "usage",
                        "prompt_logprobs",
                        "prompt_token_ids",
                        "kv_transfer_params")),
                keys(o));
        JsonNode choice = o.at("/choices/0");
        assertEquals(
                new TreeSet<>(List.of("index", "message", "logprobs", "finish_reason", "stop_reason", "token_ids")),
                keys(choice));
        JsonNode msg = choice.get("message");
        assertEquals(
                new TreeSet<>(
                        List.of("role", "content", "refusal", "annotations", "audio", "function_call", "reasoning")),
                keys(msg));
        assertTrue(msg.get("refusal").isNull());
        assertFalse(msg.has("tool_calls"), "an empty tool_calls is left out, as vLLM's serialiser does");
        assertEquals("hi", msg.get("content").asText());
        assertEquals(4, o.at("/usage/total_tokens").asInt());
    }

    @Test
    void textCompletionHasVllmsKeys() {
        JsonNode o = new Responses("cmpl-1", "m", false).complete("hi", "length", null, 3, 1, null);
        assertEquals(
                new TreeSet<>(List.of(
                        "id",
                        "object",
                        "created",
                        "model",
                        "choices",
                        "service_tier",
                        "system_fingerprint",
                        "usage",
                        "kv_transfer_params")),
                keys(o));
        assertEquals(
                new TreeSet<>(List.of(
                        "index",
                        "text",
                        "logprobs",
                        "finish_reason",
                        "stop_reason",
                        "token_ids",
                        "prompt_logprobs",
                        "prompt_token_ids")),
                keys(o.at("/choices/0")));
    }

    @Test
    void modelCardIsVllms() {
        JsonNode card = Responses.models("tiny", "/models/tiny", 4096).at("/data/0");
        assertEquals("vllm", card.get("owned_by").asText());
        assertEquals(4096, card.get("max_model_len").asInt());
        JsonNode perm = card.at("/permission/0");
        assertEquals("model_permission", perm.get("object").asText());
        assertTrue(perm.get("id").asText().startsWith("modelperm-"));
        assertTrue(perm.get("allow_sampling").asBoolean());
        assertEquals("*", perm.get("organization").asText());
    }
}
