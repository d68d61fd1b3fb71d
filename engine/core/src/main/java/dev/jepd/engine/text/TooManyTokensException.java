package dev.jepd.engine.text;

/**
 * A text with more tokens than its caller allows, found before all of it was encoded: {@link #counted()} is
 * a lower bound of its token count (the tokens of the pieces encoded so far, or its UTF-8 length over the
 * longest token's).
 */
public final class TooManyTokensException extends IllegalArgumentException {
    private final long counted;
    private final int limit;

    public TooManyTokensException(long counted, int limit) {
        super("the text has at least " + counted + " tokens, more than " + limit);
        this.counted = counted;
        this.limit = limit;
    }

    /** At least this many tokens. */
    public long counted() {
        return counted;
    }

    /** The limit that was passed. */
    public int limit() {
        return limit;
    }
}
