package dev.jepd.engine.text;

/** What stopped a sequence with {@link FinishReason#STOP}: vLLM's {@code stop_reason}. */
public sealed interface StopReason permits StopReason.Eos, StopReason.StopToken, StopReason.StopString {

    /** The value of vLLM's {@code stop_reason} field: {@code null}, an {@link Integer} or a {@link String}. */
    Object wireValue();

    /** The model's EOS token; vLLM reports {@code stop_reason: null} for it. */
    record Eos(int tokenId) implements StopReason {
        @Override
        public Object wireValue() {
            return null;
        }
    }

    /** A token of {@code stop_token_ids} (or an extra EOS id of {@code generation_config.json}). */
    record StopToken(int tokenId) implements StopReason {
        @Override
        public Object wireValue() {
            return tokenId;
        }
    }

    /** One of the request's {@code stop} strings. */
    record StopString(String stop) implements StopReason {
        @Override
        public Object wireValue() {
            return stop;
        }
    }
}
