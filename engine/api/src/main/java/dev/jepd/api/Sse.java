package dev.jepd.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;

/** Server-Sent Events framing as OpenAI and vLLM write it: {@code data: <json>\n\n}, then {@code data: [DONE]\n\n}. */
public final class Sse {
    public static final String CONTENT_TYPE = "text/event-stream; charset=utf-8";
    public static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8);

    private Sse() {}

    public static byte[] event(JsonNode data) {
        byte[] json = Json.bytes(data);
        byte[] out = new byte[json.length + 8];
        System.arraycopy("data: ".getBytes(StandardCharsets.US_ASCII), 0, out, 0, 6);
        System.arraycopy(json, 0, out, 6, json.length);
        out[out.length - 2] = '\n';
        out[out.length - 1] = '\n';
        return out;
    }
}
