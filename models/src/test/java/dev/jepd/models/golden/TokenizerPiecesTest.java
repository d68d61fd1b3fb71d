package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.engine.text.Tokenizer;
import dev.jepd.engine.text.TooManyTokensException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The real Qwen tokenizer encoding a long text in pieces (so that a huge body is refused once it passes
 * {@code --max-model-len}, before all of it is tokenised) gives exactly the ids of encoding it whole.
 */
class TokenizerPiecesTest {
    private static final String TINY = "/dev/jepd/models/tiny/";
    private static final List<Tokenizer> tokenizers = new ArrayList<>();
    private static Tokenizer whole;

    @BeforeAll
    static void load() throws IOException {
        byte[] json = Files.readAllBytes(PromptParityTest.resource(TINY + "tokenizer.json"));
        whole = Tokenizer.fromJson(json, "qwen");
        for (int piece : new int[] {1, 7, 64}) {
            tokenizers.add(Tokenizer.fromJson(json, "qwen pieces of " + piece, piece));
        }
    }

    @AfterAll
    static void close() {
        whole.close();
        tokenizers.forEach(Tokenizer::close);
    }

    /** Texts a prompt holds: the golden chat texts, prose, code, many scripts, marks, emoji, special tokens. */
    static List<String> corpus() throws IOException {
        List<String> texts = new ArrayList<>();
        ObjectMapper mapper = new ObjectMapper();
        try (Stream<Path> cases = Files.list(PromptParityTest.resource("/golden/cases"))) {
            for (Path c :
                    cases.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                JsonNode node = mapper.readTree(c.toFile());
                texts.add(node.path("chat_text").asText(""));
                texts.add(node.path("generated_text").asText(""));
            }
        }
        texts.add("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nDescribe this"
                + " image in detail, please. It's a photo; don't guess.<|im_end|>\n<|im_start|>assistant\n");
        texts.add("The quick brown fox jumps over the lazy dog.  Two  spaces,\ttabs\tand\r\nCRLF lines\nNext line\n\n"
                + "After a blank line. I'll, we've, they're, he'd, she's, IT'S, 'S alone.");
        texts.add(
                "def f(x):\n    return x * 2  # comment\nclass A:\n    pass\n\nif a and b or not c:\n  print(\"hi\")\n");
        texts.add("Ünïcödé café naïve résumé e\u0301 A\u030a o\u0308 x\u0327 Zalgo z\u0351\u0354\u0323 end word");
        texts.add("中文文本 和 English words 混合 日本語のテキスト 한국어 텍스트 العربية words עברית text Ελληνικά word");
        texts.add("😀😀😀 emoji 👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇩🇪 and words between 🙂 end");
        texts.add("numbers 12345 3.14159 1,000,000 and 2026-12-04 dates v1.2.3 x86_64 a1b2c3");
        texts.add("<|vision_start|><|image_pad|><|vision_end|>What is this? <tool_call>call it</tool_call> done");
        texts.add("a".repeat(300) + " b" + " c".repeat(200) + "\nz".repeat(100));
        String[] fragments = {
            "word",
            "Word",
            " ",
            "  ",
            "\n",
            "\n\n",
            "\r\n",
            "\t",
            "it's",
            "'ll",
            "é",
            "e\u0301",
            "中文",
            "😀",
            "👍🏽",
            "123",
            ".",
            ",",
            "!?",
            "<|im_end|>",
            "<|im_start|>",
            "<|image_pad|>",
            "x",
            "Y",
            "-",
            "—",
            "\u00a0",
            "ß",
            "İ"
        };
        Random random = new Random(14);
        for (int t = 0; t < 400; t++) {
            StringBuilder b = new StringBuilder();
            int parts = 1 + random.nextInt(60);
            for (int i = 0; i < parts; i++) {
                b.append(fragments[random.nextInt(fragments.length)]);
            }
            texts.add(b.toString());
        }
        return texts;
    }

    @Test
    void qwensTokenizerIsCutIntoPieces() {
        assertTrue(whole.encodesInPieces());
    }

    @Test
    void piecesGiveTheIdsOfTheWholeText() throws IOException {
        List<String> texts = corpus();
        StringBuilder all = new StringBuilder();
        for (String text : texts) {
            int[] expected = whole.encode(text);
            for (Tokenizer t : tokenizers) {
                assertArrayEquals(expected, t.encode(text, Integer.MAX_VALUE), () -> t + " on " + text);
                assertArrayEquals(expected, t.encode(text, expected.length), () -> t + " at its own length");
            }
            all.append(text).append(' ');
        }
        String joined = all.toString();
        int[] expected = whole.encode(joined);
        assertArrayEquals(expected, whole.encode(joined, Integer.MAX_VALUE));
        for (Tokenizer t : tokenizers) {
            assertArrayEquals(expected, t.encode(joined, Integer.MAX_VALUE), t::toString);
        }
    }

    @Test
    void aTextOverTheLimitIsRefusedByItsFirstPiecesOrItsLength() {
        String text = "hello world ".repeat(200_000); // 2.4 MB, 400,000 tokens
        // Its length alone: 2.4 MB over 128 bytes a token is at least 18,750 tokens.
        assertEquals(
                18_750,
                assertThrows(TooManyTokensException.class, () -> whole.encode(text, 18_749))
                        .counted());
        long started = System.nanoTime();
        TooManyTokensException e = assertThrows(TooManyTokensException.class, () -> whole.encode(text, 20_000));
        assertTrue(e.counted() > 20_000 && e.counted() < 20_000 + 16_384, () -> "counted " + e.counted());
        assertTrue(System.nanoTime() - started < 2_000_000_000L, "refused after its first pieces");

        // 10,000 emoji are 40,000 bytes; no token stands for more than 128 bytes, so they are at least 313 tokens.
        String emoji = "😀".repeat(10_000);
        TooManyTokensException early = assertThrows(TooManyTokensException.class, () -> whole.encode(emoji, 300));
        assertEquals(313, early.counted());
        assertEquals(10_000, whole.encode(emoji, 10_000).length);
        assertThrows(TooManyTokensException.class, () -> whole.encode(emoji, 9_999));
    }
}
