package dev.jepd.serving;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.ChatContentParts;
import dev.jepd.api.ImageItem;
import dev.jepd.api.Json;
import dev.jepd.api.RequestSchema;
import dev.jepd.engine.connector.EcTransferParams;
import dev.jepd.engine.sampling.InvalidSamplingParameterException;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.engine.text.ContentPart;
import dev.jepd.engine.text.Role;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Parses OpenAI request bodies; every problem is a 400 naming the offending parameter. */
public final class RequestParser {
    private RequestParser() {}

    /** A parsed {@code /v1/chat/completions} body. */
    public record Chat(
            String model,
            List<ChatMessage> messages,
            List<ImageItem> images,
            boolean stream,
            boolean includeUsage,
            SamplingParams sampling,
            boolean hasProcessorKwargs,
            JsonNode mmProcessorKwargs,
            JsonNode kvTransferParams,
            Map<String, EcTransferParams> ecTransferParams,
            Double requestTimeout) {}

    /** A parsed {@code /v1/completions} body (one text prompt). */
    public record Completion(
            String model,
            String prompt,
            int[] promptTokenIds,
            boolean stream,
            boolean includeUsage,
            boolean echo,
            SamplingParams sampling,
            JsonNode kvTransferParams,
            Double requestTimeout) {}

    /** A {@code /v1/chat/completions} body, its field types first checked by {@link RequestSchema#chat}. */
    public static Chat chat(ObjectNode body) {
        RequestSchema.chat(body);
        String model = model(body);
        JsonNode msgs = body.get("messages");
        if (msgs == null || !msgs.isArray() || msgs.isEmpty()) {
            throw ApiException.badRequest("'messages' must be a non-empty array", "messages");
        }
        List<ChatMessage> messages = new ArrayList<>();
        List<ImageItem> images = new ArrayList<>();
        for (int m = 0; m < msgs.size(); m++) {
            JsonNode msg = msgs.get(m);
            String at = "messages[" + m + "]";
            if (!msg.isObject()) {
                throw ApiException.badRequest(at + " must be an object", at);
            }
            Role role;
            try {
                role = Role.parse(text(msg, "role", at + ".role"));
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest(e.getMessage(), at + ".role");
            }
            if (msg.has("tool_calls") && !msg.get("tool_calls").isNull()) {
                throw ApiException.badRequest("tool calls are not supported", at + ".tool_calls");
            }
            JsonNode content = msg.get("content");
            List<ContentPart> parts = new ArrayList<>();
            if (content == null || content.isNull()) {
                // An assistant turn may have no content; it renders empty.
            } else if (content.isTextual()) {
                parts.add(new ContentPart.Text(content.asText()));
            } else if (content.isArray()) {
                for (int p = 0; p < content.size(); p++) {
                    part(content.get(p), at + ".content[" + p + "]", images, parts);
                }
            } else {
                throw ApiException.badRequest(at + ".content must be a string or an array of parts", at + ".content");
            }
            messages.add(ChatMessage.of(role, parts.toArray(ContentPart[]::new)));
        }
        boolean stream = body.path("stream").asBoolean(false);
        JsonNode kwargs = body.get("mm_processor_kwargs");
        boolean hasKwargs = (kwargs != null && !kwargs.isNull() && !kwargs.isEmpty())
                || (body.has("media_io_kwargs") && !body.get("media_io_kwargs").isNull());
        return new Chat(
                model,
                messages,
                images,
                stream,
                stream && body.path("stream_options").path("include_usage").asBoolean(false),
                sampling(body),
                hasKwargs,
                kwargs,
                body.get("kv_transfer_params"),
                ecTransferParams(body.get("ec_transfer_params")),
                requestTimeout(body));
    }

    /**
     * {@code ec_transfer_params}: what the encoders' connectors published, keyed by the item's EC key (vLLM's
     * consumers read it as {@code params.get(mm_hash)}), copied here verbatim by the proxy. Absent or null: none.
     */
    static Map<String, EcTransferParams> ecTransferParams(JsonNode node) {
        if (node == null || node.isNull()) {
            return Map.of();
        }
        if (!node.isObject()) {
            throw ApiException.badRequest("'ec_transfer_params' must be an object keyed by item", "ec_transfer_params");
        }
        Map<String, EcTransferParams> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            String at = "ec_transfer_params." + e.getKey();
            if (!e.getValue().isObject()) {
                throw ApiException.badRequest("'" + at + "' must be an object", at);
            }
            try {
                out.put(e.getKey(), Json.MAPPER.treeToValue(e.getValue(), EcTransferParams.class));
            } catch (JsonProcessingException | IllegalArgumentException ex) {
                Throwable cause = ex.getCause() instanceof IllegalArgumentException iae ? iae : ex;
                throw ApiException.badRequest("'" + at + "' is not valid: " + cause.getMessage(), at);
            }
        }
        return Map.copyOf(out);
    }

    /** A {@code /v1/completions} body, its field types first checked by {@link RequestSchema#completion}. */
    public static Completion completion(ObjectNode body) {
        RequestSchema.completion(body);
        String model = model(body);
        JsonNode p = body.get("prompt");
        String prompt = null;
        int[] ids = null;
        if (p != null && p.isArray() && p.size() == 1 && p.get(0).isTextual()) {
            p = p.get(0);
        }
        if (p != null && p.isTextual()) {
            prompt = p.asText();
        } else if (p != null && p.isArray() && !p.isEmpty() && p.get(0).isIntegralNumber()) {
            ids = new int[p.size()];
            for (int i = 0; i < ids.length; i++) {
                if (!p.get(i).isIntegralNumber()) {
                    throw ApiException.badRequest("'prompt' token ids must be integers", "prompt");
                }
                ids[i] = p.get(i).asInt();
            }
        } else {
            throw ApiException.badRequest(
                    "'prompt' must be a string or one list of token ids (batches are not supported)", "prompt");
        }
        boolean stream = body.path("stream").asBoolean(false);
        return new Completion(
                model,
                prompt,
                ids,
                stream,
                stream && body.path("stream_options").path("include_usage").asBoolean(false),
                body.path("echo").asBoolean(false),
                sampling(body),
                body.get("kv_transfer_params"),
                requestTimeout(body));
    }

    /**
     * JEPD's per-request deadline, {@code request_timeout}: seconds from arrival after which the node aborts the
     * request (504, or an error event on a stream). A positive number; absent or null: the node's
     * {@code --request-timeout}, if any, which it can only shorten.
     */
    static Double requestTimeout(ObjectNode body) {
        JsonNode t = body.get("request_timeout");
        if (t == null || t.isNull()) {
            return null;
        }
        if (!t.isNumber() || !(t.asDouble() > 0) || Double.isInfinite(t.asDouble())) {
            throw ApiException.badRequest("'request_timeout' must be a positive number of seconds", "request_timeout");
        }
        return t.asDouble();
    }

    /** One content part through the grammar shared with the proxy ({@link ChatContentParts}). */
    private static void part(JsonNode part, String at, List<ImageItem> images, List<ContentPart> parts) {
        switch (ChatContentParts.parse(part, at).orElse(null)) {
            case null -> {} // a text-like part without text: vLLM skips it
            case ChatContentParts.Text t -> parts.add(new ContentPart.Text(t.text()));
            case ChatContentParts.Image i -> {
                ImageItem item = new ImageItem(images.size(), i.url(), i.uuid(), at);
                images.add(item);
                parts.add(new ContentPart.Image(item.index()));
            }
        }
    }

    private static String model(ObjectNode body) {
        JsonNode m = body.get("model");
        if (m == null || m.isNull()) {
            return null;
        }
        if (!m.isTextual()) {
            throw ApiException.badRequest("'model' must be a string", "model");
        }
        return m.asText();
    }

    private static String text(JsonNode node, String field, String at) {
        JsonNode v = node.get(field);
        if (v == null || !v.isTextual()) {
            throw ApiException.badRequest(at + " must be a string", at);
        }
        return v.asText();
    }

    /** The sampling parameters of either endpoint, validated with vLLM's rules. */
    public static SamplingParams sampling(ObjectNode body) {
        try {
            SamplingParams.Builder b = SamplingParams.builder();
            if (has(body, "n") && body.get("n").asInt() != 1) {
                throw new InvalidSamplingParameterException("n", "only n=1 is supported");
            }
            Integer max = intOrNull(body, "max_completion_tokens");
            if (max == null) {
                max = intOrNull(body, "max_tokens");
            }
            if (max != null && max < 1) {
                throw new InvalidSamplingParameterException(
                        "max_tokens", "max_tokens must be at least 1, got " + max + ".");
            }
            b.maxTokens(max);
            if (has(body, "temperature")) {
                b.temperature(number(body, "temperature"));
            }
            if (has(body, "top_p")) {
                b.topP(number(body, "top_p"));
            }
            if (has(body, "top_k")) {
                b.topK(intOrNull(body, "top_k"));
            }
            if (has(body, "min_p")) {
                b.minP(number(body, "min_p"));
            }
            if (has(body, "seed")) {
                b.seed((long) intOrNull(body, "seed"));
            }
            if (has(body, "min_tokens")) {
                b.minTokens(intOrNull(body, "min_tokens"));
            }
            if (has(body, "presence_penalty")) {
                b.presencePenalty(number(body, "presence_penalty"));
            }
            if (has(body, "frequency_penalty")) {
                b.frequencyPenalty(number(body, "frequency_penalty"));
            }
            if (has(body, "repetition_penalty")) {
                b.repetitionPenalty(number(body, "repetition_penalty"));
            }
            b.ignoreEos(body.path("ignore_eos").asBoolean(false));
            b.includeStopStrInOutput(body.path("include_stop_str_in_output").asBoolean(false));
            JsonNode stop = body.get("stop");
            if (stop != null && !stop.isNull()) {
                List<String> s = new ArrayList<>();
                if (stop.isTextual()) {
                    s.add(stop.asText());
                } else if (stop.isArray()) {
                    stop.forEach(x -> s.add(x.asText()));
                } else {
                    throw new InvalidSamplingParameterException("stop", "'stop' must be a string or a list of strings");
                }
                b.stop(s);
            }
            JsonNode stopIds = body.get("stop_token_ids");
            if (stopIds != null && stopIds.isArray()) {
                List<Integer> ids = new ArrayList<>();
                stopIds.forEach(x -> ids.add(x.asInt()));
                b.stopTokenIds(ids);
            }
            return b.build();
        } catch (InvalidSamplingParameterException e) {
            throw ApiException.badRequest(e.getMessage(), e.param());
        }
    }

    private static boolean has(ObjectNode body, String f) {
        return body.has(f) && !body.get(f).isNull();
    }

    private static double number(ObjectNode body, String f) {
        JsonNode v = body.get(f);
        if (!v.isNumber()) {
            throw new InvalidSamplingParameterException(f, "'" + f + "' must be a number");
        }
        return v.asDouble();
    }

    private static Integer intOrNull(ObjectNode body, String f) {
        JsonNode v = body.get(f);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new InvalidSamplingParameterException(f, "'" + f + "' must be an integer");
        }
        return v.asInt();
    }
}
