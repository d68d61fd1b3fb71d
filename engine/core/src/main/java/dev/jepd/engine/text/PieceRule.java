package dev.jepd.engine.text;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;

/**
 * Where a long text may be cut so that encoding its pieces one by one gives exactly the ids of encoding it
 * whole, for the byte-level BPE tokenizers of Qwen2, Qwen2.5 and Qwen3 (one known pre-tokenizer regex).
 *
 * <p>BPE never merges across pre-tokens, so a cut where the pre-tokenizer cuts anyway changes nothing, as long
 * as the normalizer and the added tokens do not look across it either. With this regex no pre-token holds an
 * ASCII letter followed by a space, nor a newline followed by a letter (letters gather only in
 * {@code [^\r\n\p{L}\p{N}]?\p{L}+} and the contractions; the regex has no look-behind, and its one look-ahead,
 * {@code \s+(?!\S)}, ends a whitespace run, which a piece never ends with). So the cuts are: before a space
 * between two ASCII letters ({@code "word| word"}), and between a newline and an ASCII letter. NFC composes only
 * with combining marks, which neither side of a cut is; added tokens must hold no space or newline and strip
 * nothing, or no cut is made.
 */
final class PieceRule {
    /** The {@code Split} regex of Qwen2/2.5/3's {@code tokenizer.json}. */
    static final Set<String> KNOWN_PATTERNS =
            Set.of("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                    + "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");

    private PieceRule() {}

    /**
     * The first cut at or after {@code from} (never at 0 or the end), or {@code text.length()} when there is
     * none.
     */
    static int cut(String text, int from) {
        int n = text.length();
        for (int i = Math.max(1, from); i + 1 < n; i++) {
            char prev = text.charAt(i - 1);
            char c = text.charAt(i);
            if ((c == ' ' && asciiLetter(prev) && asciiLetter(text.charAt(i + 1)))
                    || (prev == '\n' && asciiLetter(c))) {
                return i;
            }
        }
        return n;
    }

    private static boolean asciiLetter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }

    /**
     * The most UTF-8 bytes one token of this tokenizer stands for, when its texts may be cut by
     * {@link #cut}; 0 when they may not (an unknown normalizer, pre-tokenizer or model, or an added token that
     * strips or holds a space or newline).
     */
    static int maxTokenBytes(byte[] json, Map<String, Integer> idsByContent) {
        JsonNode normalizer = null;
        JsonNode preTokenizer = null;
        JsonNode added = null;
        String modelType = null;
        ObjectMapper mapper = new ObjectMapper();
        try (JsonParser p = mapper.getFactory().createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return 0;
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                p.nextToken();
                switch (field) {
                    case "normalizer" -> normalizer = p.readValueAsTree();
                    case "pre_tokenizer" -> preTokenizer = p.readValueAsTree();
                    case "added_tokens" -> added = p.readValueAsTree();
                    case "model" -> modelType = modelType(p);
                    default -> p.skipChildren();
                }
            }
        } catch (IOException e) {
            return 0; // Vocabulary.parse has already read it; nothing to add here
        }
        if (!"BPE".equals(modelType) || !nfcOrNone(normalizer) || !knownPreTokenizer(preTokenizer)) {
            return 0;
        }
        int max = 1;
        if (added != null) {
            for (JsonNode t : added) {
                String content = t.path("content").asText("");
                if (content.indexOf(' ') >= 0
                        || content.indexOf('\n') >= 0
                        || content.indexOf('\r') >= 0
                        || t.path("lstrip").asBoolean(false)
                        || t.path("rstrip").asBoolean(false)) {
                    return 0;
                }
                max = Math.max(max, content.getBytes(StandardCharsets.UTF_8).length);
            }
        }
        for (String token : idsByContent.keySet()) {
            max = Math.max(max, token.length()); // a byte-level vocabulary entry: one character per byte
        }
        return max;
    }

    private static String modelType(JsonParser p) throws IOException {
        String type = null;
        if (p.currentToken() != JsonToken.START_OBJECT) {
            p.skipChildren();
            return null;
        }
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            p.nextToken();
            if (field.equals("type")) {
                type = p.getText();
            } else {
                p.skipChildren();
            }
        }
        return type;
    }

    private static boolean nfcOrNone(JsonNode normalizer) {
        return normalizer == null
                || normalizer.isNull()
                || (normalizer.path("type").asText().equals("NFC") && normalizer.size() == 1);
    }

    private static boolean knownPreTokenizer(JsonNode pre) {
        if (pre == null || !pre.path("type").asText().equals("Sequence")) {
            return false;
        }
        JsonNode steps = pre.path("pretokenizers");
        if (steps.size() != 2) {
            return false;
        }
        JsonNode split = steps.get(0);
        JsonNode byteLevel = steps.get(1);
        return split.path("type").asText().equals("Split")
                && KNOWN_PATTERNS.contains(split.path("pattern").path("Regex").asText())
                && split.path("behavior").asText().equals("Isolated")
                && !split.path("invert").asBoolean(false)
                && byteLevel.path("type").asText().equals("ByteLevel")
                && !byteLevel.path("use_regex").asBoolean(true)
                && !byteLevel.path("add_prefix_space").asBoolean(true);
    }
}
