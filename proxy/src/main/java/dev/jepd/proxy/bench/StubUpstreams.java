package dev.jepd.proxy.bench;

import dev.jepd.api.HttpServer;
import dev.jepd.api.Json;
import dev.jepd.api.Sse;
import io.undertow.util.Headers;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Upstreams that answer at once, for measuring a proxy's own cost ({@code jepd bench proxy}): what is timed is the
 * proxy, not a model.
 */
public final class StubUpstreams {
    private StubUpstreams() {}

    /** An encoder that answers every chat completion at once with a one-token JSON completion. */
    public static HttpServer encoder() {
        String answer = "{\"id\":\"e\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                + "\"assistant\",\"content\":\"\"},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":1,"
                + "\"completion_tokens\":1,\"total_tokens\":2}}";
        return HttpServer.builder("stub encoder")
                .port(0)
                .get("/health", ex -> ex.setStatusCode(200))
                .post("/v1/chat/completions", ex -> {
                    ex.startBlocking();
                    ex.getInputStream().readAllBytes();
                    ex.getResponseHeaders().put(Headers.CONTENT_TYPE, "application/json");
                    ex.getResponseSender().send(answer);
                })
                .start();
    }

    /** A decode node that streams {@code chunks} content chunks and {@code [DONE]} for every chat completion. */
    public static HttpServer decode(int chunks) {
        List<byte[]> events = new ArrayList<>();
        for (int i = 0; i < chunks; i++) {
            var c = Json.MAPPER.createObjectNode().put("id", "d").put("object", "chat.completion.chunk");
            var choice = c.putArray("choices").addObject().put("index", 0);
            var delta = choice.putObject("delta");
            if (i == 0) {
                delta.put("role", "assistant");
            }
            delta.put("content", "tok" + i + " ");
            if (i == chunks - 1) {
                choice.put("finish_reason", "length");
            } else {
                choice.putNull("finish_reason");
            }
            events.add(Sse.event(c));
        }
        events.add(Sse.DONE);
        return HttpServer.builder("stub decode")
                .port(0)
                .get("/health", ex -> ex.setStatusCode(200))
                .post("/v1/chat/completions", ex -> {
                    ex.startBlocking();
                    ex.getInputStream().readAllBytes();
                    ex.getResponseHeaders().put(Headers.CONTENT_TYPE, Sse.CONTENT_TYPE);
                    OutputStream os = ex.getOutputStream();
                    for (byte[] e : events) {
                        os.write(e);
                        os.flush();
                    }
                    ex.endExchange();
                })
                .start();
    }
}
