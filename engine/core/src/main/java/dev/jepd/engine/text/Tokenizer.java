package dev.jepd.engine.text;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer, run by the Rust {@code tokenizers} library through DJL.
 *
 * <p>Encoding adds nothing on its own: no special tokens (Qwen adds none; the chat template writes them as
 * text), no truncation and no padding — DJL's defaults would truncate at 512 tokens, so they are switched off
 * and checked at load time. Special tokens written as text in the input ({@code <|im_start|>}) are recognised
 * as single tokens, as in Hugging Face's {@code tokenizer.encode(text, add_special_tokens=False)}.
 *
 * <p>Thread safety: one instance may be shared by any number of threads. After construction the Rust
 * tokenizer is only read ({@code encode} and {@code decode} take it by shared reference; it is {@code Sync},
 * its BPE cache sits behind a lock), and this class never calls DJL's mutating setters after loading. The
 * one hazard is {@link #close()} racing an in-flight call, which would free the native object under it: calls
 * hold a read lock, {@code close} takes the write lock.
 */
public final class Tokenizer implements AutoCloseable {
    private final String source;
    // One native tokenizer per loaded model: it lives exactly as long as this object.
    private final HuggingFaceTokenizer djl;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private boolean closed;

    /** Every token of the vocabulary and every added token, by content. */
    private final Map<String, Integer> idsByContent;
    /** Ids of the added tokens flagged {@code "special": true} (skipped by {@code skipSpecialTokens}). */
    private final BitSet special;

    private final int vocabSize;

    /**
     * The most UTF-8 bytes one token stands for, when the tokenizer is one whose text may be cut into pieces
     * (see {@link #encode(String, int)}); 0 when it is not, and then a text is always encoded whole.
     */
    private final int maxTokenBytes;

    /** Characters per piece when a long text is encoded piecewise (a test may make it small). */
    private final int pieceChars;

    private Tokenizer(
            String source,
            HuggingFaceTokenizer djl,
            Map<String, Integer> idsByContent,
            BitSet special,
            int vocabSize,
            int maxTokenBytes,
            int pieceChars) {
        this.source = source;
        this.djl = djl;
        this.idsByContent = idsByContent;
        this.special = special;
        this.vocabSize = vocabSize;
        this.maxTokenBytes = maxTokenBytes;
        this.pieceChars = pieceChars;
    }

    /** Loads a {@code tokenizer.json} file, or the {@code tokenizer.json} inside a model directory. */
    public static Tokenizer load(Path path) {
        Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
        byte[] json;
        try {
            json = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read tokenizer (" + e.getMessage() + ")", e);
        }
        return fromJson(json, file.toString());
    }

    /** Loads a tokenizer from the bytes of a {@code tokenizer.json}; {@code source} names it in errors. */
    public static Tokenizer fromJson(byte[] json, String source) {
        return fromJson(json, source, DEFAULT_PIECE_CHARS);
    }

    /** Characters per piece of a long text (see {@link #encode(String, int)}). */
    static final int DEFAULT_PIECE_CHARS = 16_384;

    /**
     * As {@link #fromJson(byte[], String)}, cutting long texts into pieces of about {@code pieceChars} (tests
     * make it small to prove the ids do not change).
     */
    public static Tokenizer fromJson(byte[] json, String source, int pieceChars) {
        Vocabulary vocab = Vocabulary.parse(json, source);
        HuggingFaceTokenizer djl;
        try {
            djl = HuggingFaceTokenizer.newInstance(
                    new ByteArrayInputStream(json),
                    Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false"));
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException(source + ": cannot load tokenizer (" + e.getMessage() + ")", e);
        }
        if (!djl.getTruncation().equals("DO_NOT_TRUNCATE") || !djl.getPadding().equals("DO_NOT_PAD")) {
            String settings = "truncation " + djl.getTruncation() + ", padding " + djl.getPadding();
            djl.close();
            throw new IllegalStateException(source + ": tokenizer must neither truncate nor pad, has " + settings);
        }
        int maxTokenBytes = PieceRule.maxTokenBytes(json, vocab.idsByContent());
        return new Tokenizer(
                source, djl, vocab.idsByContent(), vocab.special(), vocab.size(), maxTokenBytes, pieceChars);
    }

    /** Whether long texts are encoded in pieces (the tokenizer's pre-tokenizer is one {@link PieceRule} knows). */
    public boolean encodesInPieces() {
        return maxTokenBytes > 0;
    }

    /**
     * The token ids of {@code text}, nothing added, nothing truncated.
     *
     * @throws PromptException if the text holds an unpaired surrogate (not Unicode text; JSON can carry one)
     */
    public int[] encode(String text) {
        checkWellFormed(text);
        return encodeWhole(text);
    }

    /**
     * The token ids of {@code text}, as {@link #encode(String)}, unless there are more than {@code maxTokens}:
     * then {@link TooManyTokensException} without encoding the rest. The work is bounded by the limit, not by
     * the text: a text whose UTF-8 length alone proves it too long (each token stands for at most the longest
     * vocabulary entry's bytes) is refused before any encoding, and a long text is encoded in pieces of about
     * {@value #DEFAULT_PIECE_CHARS} characters cut only where the pre-tokenizer cuts anyway (so the ids are
     * those of the whole text), stopping at the first piece that passes the limit. For a tokenizer whose
     * pre-tokenizer {@link PieceRule} does not know, the text is encoded whole and then counted.
     *
     * @throws TooManyTokensException with the number of tokens counted (a lower bound of the text's)
     * @throws PromptException if the text holds an unpaired surrogate
     */
    public int[] encode(String text, int maxTokens) {
        checkWellFormed(text);
        if (maxTokenBytes > 0) {
            long bytes = utf8Length(text);
            long atLeast = (bytes + maxTokenBytes - 1) / maxTokenBytes;
            if (atLeast > maxTokens) {
                throw new TooManyTokensException(atLeast, maxTokens);
            }
        }
        if (maxTokenBytes == 0 || text.length() <= pieceChars) {
            int[] ids = encodeWhole(text);
            if (ids.length > maxTokens) {
                throw new TooManyTokensException(ids.length, maxTokens);
            }
            return ids;
        }
        int[] out = new int[Math.min(maxTokens, 1 << 16)];
        int n = 0;
        int start = 0;
        while (start < text.length()) {
            int end = PieceRule.cut(text, start + pieceChars);
            int[] ids = encodeWhole(text.substring(start, end));
            if ((long) n + ids.length > maxTokens) {
                throw new TooManyTokensException((long) n + ids.length, maxTokens);
            }
            if (n + ids.length > out.length) {
                out = Arrays.copyOf(out, Math.min(maxTokens, Math.max(n + ids.length, 2 * out.length)));
            }
            System.arraycopy(ids, 0, out, n, ids.length);
            n += ids.length;
            start = end;
        }
        return Arrays.copyOf(out, n);
    }

    private int[] encodeWhole(String text) {
        long[] ids;
        lock.readLock().lock();
        try {
            ensureOpen();
            // The JNI call directly: DJL's Encoding would also fetch tokens, word ids and char spans per token.
            long encoding = TokenizersLibrary.LIB.encode(djl.getHandle(), text, false);
            try {
                ids = TokenizersLibrary.LIB.getTokenIds(encoding);
            } finally {
                TokenizersLibrary.LIB.deleteEncoding(encoding);
            }
        } finally {
            lock.readLock().unlock();
        }
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    /** The text of {@code ids}; see {@link #decode(int[], int, int, boolean)}. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        return decode(ids, 0, ids.length, skipSpecialTokens);
    }

    /**
     * The text of {@code ids[from, to)}, as Hugging Face's {@code tokenizer.decode} (no clean-up of spaces:
     * Qwen sets {@code clean_up_tokenization_spaces: false}). Bytes that do not form complete UTF-8 characters
     * become U+FFFD. Ids without a token (the padding rows of the embedding beyond the vocabulary) decode to
     * nothing, as in Hugging Face.
     */
    public String decode(int[] ids, int from, int to, boolean skipSpecialTokens) {
        long[] wide = new long[to - from];
        for (int i = from; i < to; i++) {
            if (ids[i] < 0) {
                throw new IllegalArgumentException("negative token id " + ids[i] + " at index " + i);
            }
            wide[i - from] = ids[i];
        }
        lock.readLock().lock();
        try {
            ensureOpen();
            return djl.decode(wide, skipSpecialTokens);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The id of the token whose content is exactly {@code content} (added tokens first, then the vocabulary). */
    public OptionalInt tokenId(String content) {
        Integer id = idsByContent.get(content);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The id of a token that must exist, for ids a model cannot work without. */
    public int requireTokenId(String content) {
        Integer id = idsByContent.get(content);
        if (id == null) {
            throw new IllegalArgumentException(source + ": tokenizer has no token " + content);
        }
        return id;
    }

    /**
     * The number of token ids the tokenizer knows, added tokens included (Hugging Face's {@code len(tokenizer)};
     * 151669 for Qwen). A model's embedding usually has more rows ({@code vocab_size} 151936 for Qwen2.5-VL).
     */
    public int vocabSize() {
        return vocabSize;
    }

    /** Whether {@code id} is an added token flagged special (dropped when decoding with skipSpecialTokens). */
    public boolean isSpecial(int id) {
        return id >= 0 && special.get(id);
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (!closed) {
                closed = true;
                djl.close();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "Tokenizer[" + source + ", " + vocabSize + " ids]";
    }

    private static long utf8Length(String text) {
        long bytes = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < 0x80) {
                bytes++;
            } else if (c < 0x800) {
                bytes += 2;
            } else if (Character.isHighSurrogate(c)) {
                bytes += 4;
                i++; // checked well-formed: a low surrogate follows
            } else {
                bytes += 3;
            }
        }
        return bytes;
    }

    private static void checkWellFormed(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isSurrogate(c)) {
                if (Character.isHighSurrogate(c)
                        && i + 1 < text.length()
                        && Character.isLowSurrogate(text.charAt(i + 1))) {
                    i++;
                } else {
                    throw new PromptException("text contains an unpaired surrogate at index " + i);
                }
            }
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(source + ": tokenizer is closed");
        }
    }

    /**
     * The parts of {@code tokenizer.json} that the Rust library does not expose through DJL: the ids of tokens
     * by content, and which added tokens are special. Read with a streaming parser: the merges list is large.
     */
    private record Vocabulary(Map<String, Integer> idsByContent, BitSet special, int size) {
        static Vocabulary parse(byte[] json, String source) {
            Map<String, Integer> ids = new HashMap<>(1 << 18);
            Map<String, Integer> added = new HashMap<>();
            BitSet special = new BitSet();
            try (JsonParser p = new JsonFactory().createParser(json)) {
                expect(p.nextToken(), JsonToken.START_OBJECT, source, "top level");
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String field = p.currentName();
                    JsonToken value = p.nextToken();
                    if (field.equals("added_tokens") && value == JsonToken.START_ARRAY) {
                        readAddedTokens(p, added, special, source);
                    } else if (field.equals("model") && value == JsonToken.START_OBJECT) {
                        readModel(p, ids, source);
                    } else {
                        p.skipChildren();
                    }
                }
            } catch (IOException e) {
                throw new IllegalArgumentException(source + ": malformed tokenizer.json (" + e.getMessage() + ")", e);
            }
            if (ids.isEmpty()) {
                throw new IllegalArgumentException(source + ": tokenizer.json has no model.vocab");
            }
            // Added tokens win over vocabulary entries with the same content, as in Hugging Face.
            ids.putAll(added);
            int max = -1;
            for (int id : ids.values()) {
                max = Math.max(max, id);
            }
            return new Vocabulary(Map.copyOf(ids), special, max + 1);
        }

        private static void readAddedTokens(JsonParser p, Map<String, Integer> added, BitSet special, String source)
                throws IOException {
            while (p.nextToken() == JsonToken.START_OBJECT) {
                int id = -1;
                String content = null;
                boolean isSpecial = false;
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String field = p.currentName();
                    p.nextToken();
                    switch (field) {
                        case "id" -> id = p.getIntValue();
                        case "content" -> content = p.getText();
                        case "special" -> isSpecial = p.getBooleanValue();
                        default -> p.skipChildren();
                    }
                }
                if (id < 0 || content == null) {
                    throw new IllegalArgumentException(source + ": added token without id or content");
                }
                added.put(content, id);
                if (isSpecial) {
                    special.set(id);
                }
            }
        }

        private static void readModel(JsonParser p, Map<String, Integer> ids, String source) throws IOException {
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken value = p.nextToken();
                if (!field.equals("vocab")) {
                    p.skipChildren();
                } else if (value == JsonToken.START_OBJECT) {
                    // BPE, WordPiece, WordLevel: {"token": id, ...}
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String token = p.currentName();
                        p.nextToken();
                        ids.put(token, p.getIntValue());
                    }
                } else if (value == JsonToken.START_ARRAY) {
                    // Unigram: [["piece", score], ...], the id is the position.
                    int id = 0;
                    while (p.nextToken() == JsonToken.START_ARRAY) {
                        p.nextToken();
                        ids.put(p.getText(), id++);
                        while (p.nextToken() != JsonToken.END_ARRAY) {
                            p.skipChildren();
                        }
                    }
                } else {
                    throw new IllegalArgumentException(source + ": model.vocab is neither an object nor an array");
                }
            }
        }

        private static void expect(JsonToken actual, JsonToken expected, String source, String where) {
            if (actual != expected) {
                throw new IllegalArgumentException(source + ": malformed tokenizer.json at " + where + " (" + actual
                        + ", expected " + expected + ")");
            }
        }
    }
}
