package dev.jepd.cli;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionContentPart;
import com.openai.models.chat.completions.ChatCompletionContentPartImage;
import com.openai.models.chat.completions.ChatCompletionContentPartText;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import java.io.PrintStream;
import java.util.Base64;
import java.util.List;

/**
 * The demo's client: one image request through the proxy with the official OpenAI Java SDK. Every SDK type
 * lives here and not in {@link DemoCommand}'s fields or method signatures, because picocli reflects over every
 * subcommand when {@code jepd} starts: the CLI then runs without the SDK (about 37 MB with its Kotlin and
 * OkHttp dependencies) on the classpath, as in {@code bin/jepd gpu-check}'s package, until {@code demo} runs.
 */
final class DemoClient {
    private final OpenAIClient client;
    private final ChatCompletionCreateParams params;

    DemoClient(String proxy, byte[] png, int maxTokens) {
        client = OpenAIOkHttpClient.builder()
                .baseUrl(proxy + "/v1")
                .apiKey("demo")
                .build();
        params = ChatCompletionCreateParams.builder()
                .model("tiny")
                .addUserMessageOfArrayOfContentParts(List.of(
                        ChatCompletionContentPart.ofImageUrl(ChatCompletionContentPartImage.builder()
                                .imageUrl(ChatCompletionContentPartImage.ImageUrl.builder()
                                        .url("data:image/png;base64,"
                                                + Base64.getEncoder().encodeToString(png))
                                        .build())
                                .build()),
                        ChatCompletionContentPart.ofText(ChatCompletionContentPartText.builder()
                                .text("Describe this image.")
                                .build())))
                .maxCompletionTokens(maxTokens)
                .temperature(0.0)
                .streamOptions(
                        ChatCompletionStreamOptions.builder().includeUsage(true).build())
                .build();
    }

    /** The SDK's first call loads its HTTP and JSON stacks; the caller keeps that out of the timings. */
    void warmUp() {
        client.models().list();
    }

    /** One streamed request; its text goes to {@code echo} when not null. */
    Run ask(PrintStream echo) {
        long sent = System.nanoTime();
        long[] first = {0};
        long[] tokens = {0};
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(params)) {
            s.stream().forEach(ch -> {
                ch.choices().forEach(c -> c.delta().content().ifPresent(text -> {
                    if (first[0] == 0 && !text.isEmpty()) {
                        first[0] = System.nanoTime();
                    }
                    if (echo != null) {
                        echo.print(text);
                    }
                }));
                ch.usage().ifPresent(u -> tokens[0] = u.completionTokens());
            });
        }
        return new Run(sent, first[0], System.nanoTime(), tokens[0]);
    }

    /** One streamed request's timings, measured at the client. */
    record Run(long sent, long first, long done, long tokens) {
        String describe() {
            double decode = tokens > 1 ? (tokens - 1) / ((done - first) / 1e9) : 0.0;
            return String.format(
                    "TTFT %.1f ms | %d tokens in %.1f ms | %.1f tok/s decode",
                    (first - sent) / 1e6, tokens, (done - sent) / 1e6, decode);
        }
    }
}
