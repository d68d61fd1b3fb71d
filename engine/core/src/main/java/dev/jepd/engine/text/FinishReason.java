package dev.jepd.engine.text;

/** Why a sequence ended, as OpenAI's {@code finish_reason}. */
public enum FinishReason {
    /** An EOS token, a stop token id or a stop string. */
    STOP("stop"),
    /** {@code max_tokens} reached. */
    LENGTH("length");

    private final String wireName;

    FinishReason(String wireName) {
        this.wireName = wireName;
    }

    public String wireName() {
        return wireName;
    }
}
