package dev.jepd.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The official OpenAI Java SDK as the client: a chat with an image, whole and streamed, through the proxy. */
class ProxyOpenAiSdkTest {
    private static final String CHAT = "/v1/chat/completions";

    @RegisterExtension
    final TestResources open = new TestResources();

    private static ChatCompletionCreateParams params() {
        return ChatCompletionCreateParams.builder()
                .model("Qwen/Qwen2.5-VL-3B-Instruct")
                .maxTokens(16)
                .addUserMessageOfArrayOfContentParts(List.of(
                        ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage.builder()
                                .imageUrl(ChatCompletionContentPartImage.ImageUrl.builder()
                                        .url(TestImages.dataUrl("png", 32, 32))
                                        .build())
                                .build()),
                        ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder()
                                .text("What is this?")
                                .build())))
                .build();
    }

    private static String chunk(String delta, String finish) {
        return "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                + "\"model\":\"Qwen/Qwen2.5-VL-3B-Instruct\",\"choices\":[{\"index\":0,\"delta\":" + delta
                + ",\"logprobs\":null,\"finish_reason\":" + finish + "}]}\n\n";
    }

    @Test
    void sdkChatThroughTheProxyWholeAndStreamed() throws Exception {
        StubNode e = open.stub();
        StubNode d = open.stub();
        List<byte[]> chunks = List.of(
                chunk("{\"role\":\"assistant\",\"content\":\"A \"}", "null").getBytes(StandardCharsets.UTF_8),
                chunk("{\"content\":\"square\"}", "null").getBytes(StandardCharsets.UTF_8),
                chunk("{}", "\"stop\"").getBytes(StandardCharsets.UTF_8),
                "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        d.on(CHAT, (r, ex) -> {
            if (r.json().path("stream").asBoolean(false)) {
                StubNode.stream(ex, chunks, 10);
            } else {
                StubNode.respond(ex, 200, "application/json", StubNode.chatCompletion("A square"));
            }
        });
        ProxyHarness proxy = ProxyHarness.start(List.of(e), List.of(), List.of(d));
        open.add(proxy);
        OpenAIClient client = OpenAIOkHttpClient.builder()
                .baseUrl(proxy.url() + "/v1")
                .apiKey("sk-test")
                .maxRetries(0)
                .build();
        open.add(client::close);

        ChatCompletion whole = client.chat().completions().create(params());
        assertEquals("A square", whole.choices().getFirst().message().content().orElseThrow());

        StringBuilder text = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> stream =
                client.chat().completions().createStreaming(params())) {
            stream.stream()
                    .forEach(c -> c.choices().forEach(ch -> ch.delta().content().ifPresent(text::append)));
        }
        assertEquals("A square", text.toString());

        assertEquals(2, e.received(CHAT).size(), "the image went to the encoder for both requests");
        String uuid = e.received(CHAT)
                .getFirst()
                .json()
                .at("/messages/0/content/0/uuid")
                .asText();
        for (StubNode.Received dr : d.received(CHAT)) {
            assertEquals(uuid, dr.json().at("/messages/0/content/0/uuid").asText(), "same image, same key");
            assertTrue(dr.header("Authorization").equals("Bearer sk-test"), "the client's key is passed on");
        }
    }
}
