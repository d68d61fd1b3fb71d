package dev.jepd.engine.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The DJL-backed tokenizer on a tiny byte-level BPE written by the test (the real Qwen one: models). */
class TokenizerTest {
    private static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = Tokenizer.fromJson(TinyTokenizers.tokenizerJson(), "tiny");
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    @Test
    void encodesWithMergesAndAddsNothing() {
        assertArrayEquals(new int[] {TinyTokenizers.ABC, ' ', TinyTokenizers.AB, 'x'}, tokenizer.encode("abc abx"));
        assertArrayEquals(new int[0], tokenizer.encode(""));
    }

    @Test
    void specialTokensInTextAreSingleTokens() {
        assertArrayEquals(
                new int[] {'h', 'i', TinyTokenizers.END, TinyTokenizers.TOOL, 'x'},
                tokenizer.encode("hi<|end|><tool>x"));
    }

    @Test
    void encodesNulAndSupplementaryCharactersAndRefusesUnpairedSurrogates() {
        assertEquals("a\u0000b😀", tokenizer.decode(tokenizer.encode("a\u0000b😀"), true));
        assertThrows(PromptException.class, () -> tokenizer.encode("a\uD83Db"));
        assertThrows(PromptException.class, () -> tokenizer.encode("a\uDE00"));
    }

    @Test
    void neverTruncates() {
        String text = "abc ".repeat(3000);
        int[] ids = tokenizer.encode(text);
        assertEquals(6000, ids.length);
        assertEquals(text, tokenizer.decode(ids, true));
    }

    @Test
    void aTokenizerWithAnUnknownPreTokenizerIsEncodedWholeThenCounted() {
        assertFalse(tokenizer.encodesInPieces());
        String text = "abc ".repeat(3000);
        assertArrayEquals(tokenizer.encode(text), tokenizer.encode(text, 6000));
        TooManyTokensException e = assertThrows(TooManyTokensException.class, () -> tokenizer.encode(text, 5999));
        assertEquals(6000, e.counted());
        assertEquals(5999, e.limit());
    }

    @Test
    void decodeSkipsOnlySpecialTokensWhenAsked() {
        int[] ids = {'a', TinyTokenizers.END, TinyTokenizers.TOOL, 'b'};
        assertEquals("a<tool>b", tokenizer.decode(ids, true));
        assertEquals("a<|end|><tool>b", tokenizer.decode(ids, false));
        assertEquals("<tool>", tokenizer.decode(ids, 1, 3, true));
    }

    @Test
    void decodeOfIncompleteUtf8GivesReplacementCharacter() {
        int[] euro = TinyTokenizers.byteIds("€"); // E2 82 AC
        assertEquals("\uFFFD", tokenizer.decode(euro, 0, 2, true));
        assertEquals("€", tokenizer.decode(euro, true));
    }

    @Test
    void decodeIgnoresIdsWithoutToken() {
        assertEquals("ab", tokenizer.decode(new int[] {'a', 5000, 'b'}, true));
        assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(new int[] {-1}, true));
    }

    @Test
    void vocabularyLookups() {
        assertEquals(OptionalInt.of(TinyTokenizers.END), tokenizer.tokenId("<|end|>"));
        assertEquals(OptionalInt.of(TinyTokenizers.TOOL), tokenizer.tokenId("<tool>"));
        assertEquals(OptionalInt.of(TinyTokenizers.AB), tokenizer.tokenId("ab"));
        assertEquals(OptionalInt.of(' '), tokenizer.tokenId("Ġ")); // the byte-level stand-in for the space
        assertEquals(OptionalInt.empty(), tokenizer.tokenId("<|nope|>"));
        assertThrows(IllegalArgumentException.class, () -> tokenizer.requireTokenId("<|nope|>"));
        assertEquals(TinyTokenizers.VOCAB, tokenizer.vocabSize());
        assertTrue(tokenizer.isSpecial(TinyTokenizers.END));
        assertFalse(tokenizer.isSpecial(TinyTokenizers.TOOL));
        assertFalse(tokenizer.isSpecial('a'));
        assertFalse(tokenizer.isSpecial(-1));
    }

    @Test
    void loadsFromFileAndDirectory(@TempDir Path dir) throws Exception {
        Files.write(dir.resolve("tokenizer.json"), TinyTokenizers.tokenizerJson());
        try (Tokenizer fromDir = Tokenizer.load(dir);
                Tokenizer fromFile = Tokenizer.load(dir.resolve("tokenizer.json"))) {
            assertArrayEquals(tokenizer.encode("abc"), fromDir.encode("abc"));
            assertArrayEquals(tokenizer.encode("abc"), fromFile.encode("abc"));
        }
        assertThrows(RuntimeException.class, () -> Tokenizer.load(dir.resolve("missing.json")));
        assertThrows(IllegalArgumentException.class, () -> Tokenizer.fromJson("{\"model\":{}}".getBytes(), "bad"));
    }

    @Test
    void closedTokenizerFailsCleanlyAndCloseIsIdempotent() {
        Tokenizer t = Tokenizer.fromJson(TinyTokenizers.tokenizerJson(), "tiny");
        t.close();
        t.close();
        assertThrows(IllegalStateException.class, () -> t.encode("a"));
        assertThrows(IllegalStateException.class, () -> t.decode(new int[] {'a'}, true));
    }

    @Test
    void concurrentUseGivesTheSameResultsAsSequentialUse() throws Exception {
        Random random = new Random(7);
        String[] pieces = {"a", "b", "c", " ", "x", "é", "€", "😀", "<|end|>", "<tool>", "abc", "\n"};
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            StringBuilder sb = new StringBuilder();
            for (int j = 0; j < 200; j++) {
                sb.append(pieces[random.nextInt(pieces.length)]);
            }
            texts.add(sb.toString());
        }
        List<int[]> expected = texts.stream().map(tokenizer::encode).toList();
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int thread = 0; thread < 8; thread++) {
                results.add(pool.submit(() -> {
                    for (int round = 0; round < 20; round++) {
                        for (int i = 0; i < texts.size(); i++) {
                            int[] ids = tokenizer.encode(texts.get(i));
                            if (!Arrays.equals(ids, expected.get(i))
                                    || !tokenizer.decode(ids, false).equals(texts.get(i))) {
                                return false;
                            }
                        }
                    }
                    return true;
                }));
            }
            for (Future<Boolean> r : results) {
                assertTrue(r.get());
            }
        }
    }
}
