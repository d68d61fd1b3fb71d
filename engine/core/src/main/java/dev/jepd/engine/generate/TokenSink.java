package dev.jepd.engine.generate;

import dev.jepd.engine.text.FinishReason;
import dev.jepd.engine.text.StopReason;

/** Receives one request's output as it is produced; called on the engine thread, so it must not block. */
public interface TokenSink {
    /** A new token and the text it completes (possibly empty while a character or stop string is pending). */
    void onToken(int tokenId, String delta);

    /** The request ended; {@code stopReason} is null on a length cap. */
    void onFinish(FinishReason reason, StopReason stopReason, Usage usage);

    /**
     * The final token together with the end of the request, delivered as one call so a stream can put the
     * finish reason on the chunk that carries the last text (as vLLM does) without holding tokens back.
     */
    default void onLastToken(int tokenId, String delta, FinishReason reason, StopReason stopReason, Usage usage) {
        onToken(tokenId, delta);
        onFinish(reason, stopReason, usage);
    }

    /** The request failed (it is already removed from the engine). */
    void onError(RuntimeException error);

    /** Token counts (OpenAI {@code usage}). */
    record Usage(int promptTokens, int completionTokens) {
        public int totalTokens() {
            return promptTokens + completionTokens;
        }
    }
}
