package dev.jepd.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.Json;
import dev.jepd.engine.text.StopReason;
import java.util.List;

/**
 * Response bodies and stream chunks in vLLM's shapes. One instance per request: it holds the id, the
 * creation time and the model name every chunk repeats.
 */
public final class Responses {
    private final String id;
    private final long created;
    private final String model;
    private final boolean chat;

    public Responses(String id, String model, boolean chat) {
        this.id = id;
        this.created = System.currentTimeMillis() / 1000;
        this.model = model;
        this.chat = chat;
    }

    public String id() {
        return id;
    }

    private ObjectNode envelope(String object) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("id", id);
        o.put("object", object);
        o.put("created", created);
        o.put("model", model);
        return o;
    }

    public static ObjectNode usage(int prompt, int completion) {
        ObjectNode u = Json.MAPPER.createObjectNode();
        u.put("prompt_tokens", prompt);
        u.put("total_tokens", prompt + completion);
        u.put("completion_tokens", completion);
        u.putNull("prompt_tokens_details");
        return u;
    }

    private static void putStopReason(ObjectNode choice, StopReason stopReason) {
        Object v = stopReason == null ? null : stopReason.wireValue();
        if (v == null) {
            choice.putNull("stop_reason");
        } else if (v instanceof Number n) {
            choice.put("stop_reason", n.intValue());
        } else {
            choice.put("stop_reason", v.toString());
        }
    }

    /**
     * One stream chunk. {@code first} adds the assistant role (chat); {@code finishReason} non-null marks
     * the last content chunk.
     */
    public ObjectNode chunk(String text, boolean first, String finishReason, StopReason stopReason) {
        ObjectNode o = envelope(chat ? "chat.completion.chunk" : "text_completion");
        ObjectNode c = o.putArray("choices").addObject();
        c.put("index", 0);
        if (chat) {
            ObjectNode delta = c.putObject("delta");
            if (first) {
                delta.put("role", "assistant");
            }
            delta.put("content", text);
        } else {
            c.put("text", text);
        }
        c.putNull("logprobs");
        if (finishReason == null) {
            c.putNull("finish_reason");
        } else {
            c.put("finish_reason", finishReason);
            putStopReason(c, stopReason);
        }
        return o;
    }

    /** The final usage chunk of a stream ({@code stream_options.include_usage}). */
    public ObjectNode usageChunk(int prompt, int completion) {
        ObjectNode o = envelope(chat ? "chat.completion.chunk" : "text_completion");
        o.putArray("choices");
        o.set("usage", usage(prompt, completion));
        return o;
    }

    /**
     * A whole (non-streamed) response with every field vLLM's {@code ChatCompletionResponse} /
     * {@code CompletionResponse} writes, the unset ones as null: clients and proxies written against vLLM
     * find the keys they read ({@code message.refusal}, {@code system_fingerprint}, {@code prompt_token_ids},
     * ...). As vLLM's current serialiser, an empty {@code tool_calls} is left out of the message.
     */
    public ObjectNode complete(
            String text,
            String finishReason,
            StopReason stopReason,
            int prompt,
            int completion,
            JsonNode kvTransferParams) {
        ObjectNode o = envelope(chat ? "chat.completion" : "text_completion");
        ArrayNode choices = o.putArray("choices");
        ObjectNode c = choices.addObject();
        c.put("index", 0);
        if (chat) {
            ObjectNode msg = c.putObject("message");
            msg.put("role", "assistant");
            msg.put("content", text);
            for (String unset : List.of("refusal", "annotations", "audio", "function_call", "reasoning")) {
                msg.putNull(unset);
            }
        } else {
            c.put("text", text);
        }
        c.putNull("logprobs");
        c.put("finish_reason", finishReason);
        putStopReason(c, stopReason);
        c.putNull("token_ids");
        if (!chat) {
            c.putNull("prompt_logprobs");
            c.putNull("prompt_token_ids");
        }
        o.putNull("service_tier");
        o.putNull("system_fingerprint");
        o.set("usage", usage(prompt, completion));
        if (chat) {
            o.putNull("prompt_logprobs");
            o.putNull("prompt_token_ids");
        }
        if (kvTransferParams == null) {
            o.putNull("kv_transfer_params");
        } else {
            o.set("kv_transfer_params", kvTransferParams);
        }
        return o;
    }

    /** {@code GET /v1/models}. */
    public static ObjectNode models(String servedName, String root, int maxModelLen) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("object", "list");
        ObjectNode m = o.putArray("data").addObject();
        m.put("id", servedName);
        m.put("object", "model");
        m.put("created", System.currentTimeMillis() / 1000);
        m.put("owned_by", "vllm"); // vLLM's ModelCard default: clients and routers that filter on it keep working
        m.put("root", root);
        m.putNull("parent");
        m.put("max_model_len", maxModelLen);
        ObjectNode perm = m.putArray("permission").addObject(); // vLLM's ModelPermission defaults
        perm.put("id", "modelperm-" + java.util.UUID.randomUUID().toString().replace("-", ""));
        perm.put("object", "model_permission");
        perm.put("created", m.get("created").asLong());
        perm.put("allow_create_engine", false);
        perm.put("allow_sampling", true);
        perm.put("allow_logprobs", true);
        perm.put("allow_search_indices", false);
        perm.put("allow_view", true);
        perm.put("allow_fine_tuning", false);
        perm.put("organization", "*");
        perm.putNull("group");
        perm.put("is_blocking", false);
        return o;
    }
}
