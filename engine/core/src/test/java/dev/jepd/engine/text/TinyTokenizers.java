package dev.jepd.engine.text;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Small tokenizers for unit tests: a real byte-level BPE {@code tokenizer.json} for the Rust library (ids
 * 0–255 are the bytes, 256 "ab", 257 "abc", 258 the special {@code <|end|>}, 259 the non-special
 * {@code <tool>}), and a pure-Java byte-level decoder with the same ids for tests that need no native code.
 */
public final class TinyTokenizers {
    static final int AB = 256;
    static final int ABC = 257;
    public static final int END = 258;
    static final int TOOL = 259;
    public static final int VOCAB = 260;

    private TinyTokenizers() {}

    /** GPT-2's {@code bytes_to_unicode}: the printable character that stands for each byte in the vocab. */
    static char[] byteChars() {
        List<Integer> bs = new ArrayList<>();
        for (int b = '!'; b <= '~'; b++) {
            bs.add(b);
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            bs.add(b);
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            bs.add(b);
        }
        char[] chars = new char[256];
        for (int b : bs) {
            chars[b] = (char) b;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (!bs.contains(b)) {
                chars[b] = (char) (256 + n++);
            }
        }
        return chars;
    }

    public static byte[] tokenizerJson() {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        addedToken(added, END, "<|end|>", true);
        addedToken(added, TOOL, "<tool>", false);
        root.putNull("normalizer");
        ObjectNode byteLevel = json.createObjectNode();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", false);
        byteLevel.put("use_regex", true);
        root.set("pre_tokenizer", byteLevel.deepCopy());
        root.putNull("post_processor");
        root.set("decoder", byteLevel.deepCopy());
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        ObjectNode vocab = model.putObject("vocab");
        char[] chars = byteChars();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(chars[b]), b);
        }
        vocab.put("ab", AB);
        vocab.put("abc", ABC);
        model.putArray("merges").add("a b").add("ab c");
        try {
            return json.writeValueAsBytes(root);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static void addedToken(ArrayNode added, int id, String content, boolean special) {
        ObjectNode t = added.addObject();
        t.put("id", id);
        t.put("content", content);
        t.put("single_word", false);
        t.put("lstrip", false);
        t.put("rstrip", false);
        t.put("normalized", false);
        t.put("special", special);
    }

    /** The bytes of token {@code id} in the tiny vocabulary. */
    static byte[] bytes(int id, boolean skipSpecial) {
        return switch (id) {
            case AB -> "ab".getBytes(StandardCharsets.UTF_8);
            case ABC -> "abc".getBytes(StandardCharsets.UTF_8);
            case END -> skipSpecial ? new byte[0] : "<|end|>".getBytes(StandardCharsets.UTF_8);
            case TOOL -> "<tool>".getBytes(StandardCharsets.UTF_8);
            default -> {
                if (id < 0 || id > 255) {
                    throw new IllegalArgumentException("no token " + id);
                }
                yield new byte[] {(byte) id};
            }
        };
    }

    /** A pure-Java byte-level decode with the tiny vocabulary, special tokens skipped. */
    static String decode(int[] ids, int from, int to) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = from; i < to; i++) {
            out.writeBytes(bytes(ids[i], true));
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The byte tokens of {@code text}, one token per UTF-8 byte. */
    static int[] byteIds(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = bytes[i] & 0xFF;
        }
        return ids;
    }
}
