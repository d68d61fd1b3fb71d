package dev.jepd.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.LongNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The field types of vLLM's {@code ChatCompletionRequest} and {@code CompletionRequest} pydantic models, checked in
 * one place for the proxy and the nodes alike: a field of the wrong type is a 400 naming it, before anything else
 * looks at the body. Coercions follow pydantic v2's lax mode, and the body is rewritten to the canonical type, so
 * that whoever reads it next sees what vLLM would: a boolean also from {@code 0}/{@code 1} and from
 * {@code "true"}, {@code "yes"}, {@code "on"}, {@code "1"} (and their negatives); an integer also from a float
 * without fraction and from a string of digits; a float also from an integer or a numeric string; a string only
 * from a string. {@code null} is "not given" for every optional field. Unknown fields are ignored, as vLLM's
 * {@code OpenAIBaseModel} does.
 *
 * <p>On top of the types, the values JEPD cannot honour are refused rather than ignored ({@code n} or
 * {@code best_of} above 1, beam search, logprobs, a {@code response_format} other than text, tool calling), and
 * lists are capped ({@link #MAX_STOP}, {@link #MAX_TOKEN_IDS}).
 *
 * <p>The proxy calls {@link #chat} / {@link #completion} on the client's body before forwarding it; the nodes call
 * them before parsing.
 */
public final class RequestSchema {
    /** The most stop strings a request may give (vLLM sets none; OpenAI allows 4). */
    public static final int MAX_STOP = 64;
    /** The most entries of {@code stop_token_ids}, {@code allowed_token_ids} and {@code logit_bias}. */
    public static final int MAX_TOKEN_IDS = 4096;

    private enum Type {
        BOOL,
        INT,
        FLOAT,
        STRING,
        OBJECT,
        LIST,
        STOP, // str | list[str]
        INT_LIST,
        STRING_LIST,
        OBJECT_LIST,
        LOGIT_BIAS, // dict[str(int), float]
        STRING_OR_OBJECT, // tool_choice, guided_json
        PROMPT // str | list[str] | list[int] | list[list[int]]
    }

    private static final Map<String, Type> COMMON = new LinkedHashMap<>();
    private static final Map<String, Type> CHAT = new LinkedHashMap<>();
    private static final Map<String, Type> COMPLETION = new LinkedHashMap<>();

    static {
        for (String f : new String[] {
            "stream",
            "ignore_eos",
            "include_stop_str_in_output",
            "skip_special_tokens",
            "spaces_between_special_tokens",
            "use_beam_search",
            "add_special_tokens",
            "return_tokens_as_token_ids",
            "return_token_ids"
        }) {
            COMMON.put(f, Type.BOOL);
        }
        for (String f : new String[] {
            "max_tokens",
            "n",
            "best_of",
            "seed",
            "top_k",
            "min_tokens",
            "truncate_prompt_tokens",
            "prompt_logprobs",
            "priority"
        }) {
            COMMON.put(f, Type.INT);
        }
        for (String f : new String[] {
            "temperature",
            "top_p",
            "min_p",
            "presence_penalty",
            "frequency_penalty",
            "repetition_penalty",
            "length_penalty",
            "request_timeout"
        }) {
            COMMON.put(f, Type.FLOAT);
        }
        for (String f : new String[] {
            "model",
            "user",
            "request_id",
            "cache_salt",
            "guided_regex",
            "guided_grammar",
            "structural_tag",
            "guided_decoding_backend",
            "guided_whitespace_pattern"
        }) {
            COMMON.put(f, Type.STRING);
        }
        for (String f : new String[] {
            "stream_options",
            "response_format",
            "kv_transfer_params",
            "ec_transfer_params",
            "vllm_xargs",
            "mm_processor_kwargs",
            "media_io_kwargs",
            "metadata"
        }) {
            COMMON.put(f, Type.OBJECT);
        }
        COMMON.put("stop", Type.STOP);
        COMMON.put("stop_token_ids", Type.INT_LIST);
        COMMON.put("allowed_token_ids", Type.INT_LIST);
        COMMON.put("bad_words", Type.STRING_LIST);
        COMMON.put("guided_choice", Type.STRING_LIST);
        COMMON.put("logit_bias", Type.LOGIT_BIAS);
        COMMON.put("guided_json", Type.STRING_OR_OBJECT);
        COMMON.put("logits_processors", Type.LIST);

        CHAT.putAll(COMMON);
        CHAT.put("messages", Type.LIST);
        CHAT.put("max_completion_tokens", Type.INT);
        CHAT.put("logprobs", Type.BOOL);
        CHAT.put("top_logprobs", Type.INT);
        CHAT.put("tools", Type.OBJECT_LIST);
        CHAT.put("tool_choice", Type.STRING_OR_OBJECT);
        CHAT.put("parallel_tool_calls", Type.BOOL);
        CHAT.put("reasoning_effort", Type.STRING);
        CHAT.put("include_reasoning", Type.BOOL);
        CHAT.put("echo", Type.BOOL);
        CHAT.put("add_generation_prompt", Type.BOOL);
        CHAT.put("continue_final_message", Type.BOOL);
        CHAT.put("documents", Type.OBJECT_LIST);
        CHAT.put("chat_template", Type.STRING);
        CHAT.put("chat_template_kwargs", Type.OBJECT);

        COMPLETION.putAll(COMMON);
        COMPLETION.put("prompt", Type.PROMPT);
        COMPLETION.put("echo", Type.BOOL);
        COMPLETION.put("suffix", Type.STRING);
        COMPLETION.put("logprobs", Type.INT);
    }

    private static final Set<String> TRUE = Set.of("1", "on", "t", "true", "y", "yes");
    private static final Set<String> FALSE = Set.of("0", "off", "f", "false", "n", "no");

    private RequestSchema() {}

    /** Checks (and canonicalises) a {@code /v1/chat/completions} body; a 400 naming the first bad field. */
    public static void chat(ObjectNode body) {
        check(body, CHAT);
        if (isTrue(body, "logprobs") || positive(body, "top_logprobs")) {
            throw unsupported("logprobs", "logprobs are not supported by JEPD yet");
        }
        JsonNode tools = body.get("tools");
        JsonNode choice = body.get("tool_choice");
        boolean wantsTools = tools != null && !tools.isNull() && !tools.isEmpty();
        boolean choiceNone = choice == null || choice.isNull() || "none".equals(choice.asText(null));
        if (choice != null
                && choice.isTextual()
                && !Set.of("none", "auto", "required").contains(choice.asText())) {
            throw ApiException.badRequest(
                    "'tool_choice' must be \"none\", \"auto\", \"required\" or an object", "tool_choice");
        }
        if (wantsTools && !choiceNone) {
            throw unsupported("tool_choice", "tool calling is not supported by JEPD; send tool_choice \"none\"");
        }
        if (!choiceNone) {
            throw ApiException.badRequest("'tool_choice' needs 'tools'", "tool_choice");
        }
        checkCommon(body);
    }

    /** Checks (and canonicalises) a {@code /v1/completions} body; a 400 naming the first bad field. */
    public static void completion(ObjectNode body) {
        check(body, COMPLETION);
        if (positive(body, "logprobs")) {
            throw unsupported("logprobs", "logprobs are not supported by JEPD yet");
        }
        checkCommon(body);
    }

    private static void checkCommon(ObjectNode body) {
        if (body.hasNonNull("n") && body.get("n").asLong() != 1) {
            throw unsupported("n", "only n=1 is supported");
        }
        if (body.hasNonNull("best_of") && body.get("best_of").asLong() != 1) {
            throw unsupported("best_of", "only best_of=1 is supported");
        }
        if (isTrue(body, "use_beam_search")) {
            throw unsupported("use_beam_search", "beam search is not supported");
        }
        JsonNode format = body.get("response_format");
        if (format != null && !format.isNull()) {
            JsonNode type = format.get("type");
            if (type == null || !type.isTextual()) {
                throw ApiException.badRequest("'response_format.type' must be a string", "response_format.type");
            }
            if (!type.asText().equals("text")) {
                throw unsupported(
                        "response_format", "response_format '" + clip(type.asText()) + "' is not supported; only text");
            }
        }
        for (String f : new String[] {"logit_bias", "guided_json", "guided_regex", "guided_choice", "guided_grammar"}) {
            JsonNode v = body.get(f);
            if (v != null && !v.isNull() && !(v.isContainerNode() && v.isEmpty())) {
                throw unsupported(f, "'" + f + "' is not supported by JEPD yet");
            }
        }
        JsonNode options = body.get("stream_options");
        if (options != null && !options.isNull()) {
            if (!isTrue(body, "stream")) {
                throw ApiException.badRequest(
                        "Stream options can only be defined when `stream=True`.", "stream_options");
            }
            for (String f : new String[] {"include_usage", "continuous_usage_stats"}) {
                bool((ObjectNode) options, f, "stream_options." + f);
            }
        }
        JsonNode kwargs = body.get("mm_processor_kwargs");
        if (kwargs != null && !kwargs.isNull()) {
            long[] given = new long[2];
            String[] names = {"min_pixels", "max_pixels"};
            for (int i = 0; i < 2; i++) {
                String at = "mm_processor_kwargs." + names[i];
                if (kwargs.has(names[i])) {
                    JsonNode v = integer((ObjectNode) kwargs, names[i], at);
                    if (v == null || v.asLong() <= 0) {
                        throw ApiException.badRequest("'" + at + "' must be a positive integer", at);
                    }
                    given[i] = v.asLong();
                }
            }
            if (given[0] > 0 && given[1] > 0 && given[0] > given[1]) {
                throw ApiException.badRequest(
                        "'mm_processor_kwargs.min_pixels' must not exceed 'max_pixels'", "mm_processor_kwargs");
            }
        }
    }

    private static void check(ObjectNode body, Map<String, Type> schema) {
        for (Map.Entry<String, Type> e : schema.entrySet()) {
            String f = e.getKey();
            JsonNode v = body.get(f);
            if (v == null || v.isNull()) {
                continue;
            }
            switch (e.getValue()) {
                case BOOL -> bool(body, f, f);
                case INT -> integer(body, f, f);
                case FLOAT -> number(body, f, f);
                case STRING -> require(v.isTextual(), f, "a string");
                case OBJECT -> require(v.isObject(), f, "an object");
                case LIST -> require(v.isArray(), f, "a list");
                case STOP -> {
                    if (!v.isTextual()) {
                        require(v.isArray(), f, "a string or a list of strings");
                        require(v.size() <= MAX_STOP, f, "a list of at most " + MAX_STOP + " strings");
                        for (JsonNode s : v) {
                            require(s.isTextual(), f, "a string or a list of strings");
                        }
                    }
                }
                case INT_LIST -> {
                    require(
                            v.isArray() && v.size() <= MAX_TOKEN_IDS,
                            f,
                            "a list of at most " + MAX_TOKEN_IDS + " integers");
                    for (JsonNode id : v) {
                        require(id.isIntegralNumber() && id.canConvertToInt(), f, "a list of integers");
                    }
                }
                case STRING_LIST -> {
                    require(v.isArray(), f, "a list of strings");
                    for (JsonNode s : v) {
                        require(s.isTextual(), f, "a list of strings");
                    }
                }
                case OBJECT_LIST -> {
                    require(v.isArray(), f, "a list of objects");
                    for (JsonNode o : v) {
                        require(o.isObject(), f, "a list of objects");
                    }
                }
                case LOGIT_BIAS -> {
                    require(
                            v.isObject() && v.size() <= MAX_TOKEN_IDS,
                            f,
                            "an object of at most " + MAX_TOKEN_IDS + " token ids");
                    for (Map.Entry<String, JsonNode> bias : v.properties()) {
                        require(bias.getKey().matches("-?\\d{1,10}"), f, "an object keyed by token id");
                        require(bias.getValue().isNumber(), f, "an object of numbers");
                        double b = bias.getValue().asDouble();
                        require(b >= -100 && b <= 100, f, "an object of numbers in [-100, 100]");
                    }
                }
                case STRING_OR_OBJECT -> require(v.isTextual() || v.isObject(), f, "a string or an object");
                case PROMPT -> {
                    boolean ok = v.isTextual() || (v.isArray() && !v.isEmpty());
                    if (ok && v.isArray()) {
                        JsonNode first = v.get(0);
                        for (JsonNode p : v) {
                            ok &= first.isTextual()
                                    ? p.isTextual()
                                    : first.isArray() ? p.isArray() : p.isIntegralNumber();
                        }
                    }
                    require(ok, f, "a string, a list of strings, a list of token ids or a list of such lists");
                }
            }
        }
    }

    private static void require(boolean ok, String field, String what) {
        if (!ok) {
            throw ApiException.badRequest("'" + field + "' must be " + what, field);
        }
    }

    /** Pydantic's lax bool, written back as a JSON boolean. */
    private static void bool(ObjectNode o, String f, String at) {
        JsonNode v = o.get(f);
        if (v == null || v.isNull() || v.isBoolean()) {
            return;
        }
        Boolean b = null;
        if (v.isIntegralNumber() && (v.asLong() == 0 || v.asLong() == 1) && v.canConvertToLong()) {
            b = v.asLong() == 1;
        } else if (v.isTextual()) {
            String s = v.asText().strip().toLowerCase(Locale.ROOT);
            b = TRUE.contains(s) ? Boolean.TRUE : FALSE.contains(s) ? Boolean.FALSE : null;
        }
        if (b == null) {
            throw ApiException.badRequest("'" + at + "' must be a boolean", at);
        }
        o.set(f, BooleanNode.valueOf(b));
    }

    /** Pydantic's lax int, written back as a JSON integer; null when absent. */
    private static JsonNode integer(ObjectNode o, String f, String at) {
        JsonNode v = o.get(f);
        if (v == null || v.isNull()) {
            return null;
        }
        BigDecimal d = null;
        if (v.isNumber()) {
            if (!v.isIntegralNumber() && !Double.isFinite(v.asDouble())) {
                throw ApiException.badRequest("'" + at + "' must be an integer", at);
            }
            d = v.isIntegralNumber() ? new BigDecimal(v.bigIntegerValue()) : BigDecimal.valueOf(v.asDouble());
        } else if (v.isTextual() && v.asText().strip().matches("[+-]?\\d{1,19}")) {
            d = new BigDecimal(v.asText().strip());
        }
        if (d == null || d.stripTrailingZeros().scale() > 0) {
            throw ApiException.badRequest("'" + at + "' must be an integer", at);
        }
        long n;
        try {
            n = d.longValueExact();
        } catch (ArithmeticException e) {
            throw ApiException.badRequest("'" + at + "' is out of range", at);
        }
        JsonNode canonical = n == (int) n ? IntNode.valueOf((int) n) : LongNode.valueOf(n);
        o.set(f, canonical);
        return canonical;
    }

    /** Pydantic's lax float, written back as a JSON number; NaN and infinities refused. */
    private static void number(ObjectNode o, String f, String at) {
        JsonNode v = o.get(f);
        double d;
        if (v.isNumber()) {
            d = v.asDouble();
        } else if (v.isTextual() && v.asText().strip().matches("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?")) {
            d = Double.parseDouble(v.asText().strip());
        } else {
            throw ApiException.badRequest("'" + at + "' must be a number", at);
        }
        if (!Double.isFinite(d)) {
            throw ApiException.badRequest("'" + at + "' must be a finite number", at);
        }
        if (!v.isNumber()) {
            o.set(f, DoubleNode.valueOf(d));
        }
    }

    private static boolean isTrue(ObjectNode body, String f) {
        return body.path(f).asBoolean(false);
    }

    private static boolean positive(ObjectNode body, String f) {
        return body.path(f).asLong(0) > 0;
    }

    private static ApiException unsupported(String field, String message) {
        return ApiException.badRequest(message, field);
    }

    private static String clip(String s) {
        return s.length() <= 40 ? s : s.substring(0, 40) + "...";
    }
}
