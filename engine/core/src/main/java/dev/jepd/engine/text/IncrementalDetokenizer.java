package dev.jepd.engine.text;

import java.util.Arrays;

/**
 * Streams the text of generated tokens one token at a time, as vLLM's incremental detokenizer does.
 *
 * <p>Byte-level BPE splits one character into several tokens (a Thai vowel, an emoji), so the text of one
 * token alone may end with an incomplete UTF-8 sequence, which decodes to U+FFFD. Two offsets into the ids
 * keep a small window: {@code [prefixOffset, readOffset)} is the text emitted last, {@code [readOffset, n)}
 * the tokens not yet emitted. Each step decodes the window and emits what follows the prefix text, unless it
 * ends with U+FFFD (wait for the rest of the character). {@link #flush()} emits what is left when the
 * sequence ends. The concatenation of everything emitted equals decoding all ids at once; each step decodes
 * O(window) tokens, not the whole output.
 *
 * <p>One instance per sequence; not thread-safe.
 */
public final class IncrementalDetokenizer {
    /**
     * After this many tokens whose text keeps ending with U+FFFD, the text before the last few tokens is
     * emitted even so, so that the window, and the cost per token, stay bounded.
     */
    static final int MAX_PENDING = 16;

    private static final char REPLACEMENT = '\uFFFD';

    /** Decodes {@code ids[from, to)} to text; incomplete UTF-8 at its end becomes U+FFFD. */
    @FunctionalInterface
    public interface Decoder {
        String decode(int[] ids, int from, int to);
    }

    private final Decoder decoder;
    private int[] ids = new int[64];
    private int size;
    private int prefixOffset;
    private int readOffset;
    private String prefixText = "";
    private boolean prefixStale;

    public IncrementalDetokenizer(Decoder decoder) {
        this.decoder = decoder;
    }

    /** A detokenizer over {@code tokenizer}; vLLM's default is {@code skipSpecialTokens = true}. */
    public static IncrementalDetokenizer of(Tokenizer tokenizer, boolean skipSpecialTokens) {
        return new IncrementalDetokenizer((ids, from, to) -> tokenizer.decode(ids, from, to, skipSpecialTokens));
    }

    /** Adds one generated token and returns the text it completes (often empty mid-character). */
    public String next(int tokenId) {
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, size * 2);
        }
        ids[size++] = tokenId;
        String text = decoder.decode(ids, prefixOffset, size);
        String prefix = prefixText();
        boolean incomplete = !text.isEmpty() && text.charAt(text.length() - 1) == REPLACEMENT;
        if (!incomplete) {
            if (text.length() > prefix.length()) {
                return emit(text, prefix, size);
            }
            // The new tokens decode to nothing (skipped special tokens): nothing to wait for. After a long run
            // of them, drop the left context too, so that the window stays bounded.
            readOffset = size;
            if (size - prefixOffset > MAX_PENDING) {
                prefixOffset = size;
                prefixText = "";
                prefixStale = false;
            }
            return "";
        }
        if (size - readOffset >= MAX_PENDING) {
            return emitBeforeIncompleteEnd(text, prefix);
        }
        return "";
    }

    /**
     * A long run of tokens whose text keeps ending in U+FFFD (invalid bytes keep coming): emit all but the
     * last few tokens, at a token boundary where decoding in two parts gives the same text as decoding in one
     * (so no character is split there). An incomplete character has at most 3 bytes, so one of the last 4
     * boundaries usually qualifies; if none does, keep waiting.
     */
    private String emitBeforeIncompleteEnd(String text, String prefix) {
        for (int cut = size - 1; cut > readOffset && cut >= size - 4; cut--) {
            String head = decoder.decode(ids, prefixOffset, cut);
            if (head.length() > prefix.length()
                    && text.startsWith(head)
                    && text.substring(head.length()).equals(decoder.decode(ids, cut, size))) {
                return emit(head, prefix, cut);
            }
        }
        return "";
    }

    /** Emits whatever text is still held back (a trailing U+FFFD); call once the sequence has ended. */
    public String flush() {
        if (readOffset == size) {
            return "";
        }
        String text = decoder.decode(ids, prefixOffset, size);
        String prefix = prefixText();
        if (text.length() > prefix.length()) {
            return emit(text, prefix, size);
        }
        readOffset = size;
        prefixStale = true;
        return "";
    }

    /** The number of tokens added so far. */
    public int tokenCount() {
        return size;
    }

    /** Emits {@code text} (the decoded window up to {@code upTo}) past the prefix text. */
    private String emit(String text, String prefix, int upTo) {
        prefixOffset = readOffset;
        readOffset = upTo;
        prefixStale = true;
        return text.substring(prefix.length());
    }

    private String prefixText() {
        if (prefixStale) {
            prefixText = decoder.decode(ids, prefixOffset, readOffset);
            prefixStale = false;
        }
        return prefixText;
    }
}
