package dev.jepd.engine.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class IncrementalDetokenizerTest {
    private static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = Tokenizer.fromJson(TinyTokenizers.tokenizerJson(), "tiny");
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    /** Feeds all ids, then flushes; returns the deltas. */
    private static List<String> deltas(IncrementalDetokenizer detokenizer, int[] ids) {
        List<String> out = new ArrayList<>();
        for (int id : ids) {
            out.add(detokenizer.next(id));
        }
        out.add(detokenizer.flush());
        return out;
    }

    private static IncrementalDetokenizer pureJava() {
        return new IncrementalDetokenizer(TinyTokenizers::decode);
    }

    @Test
    void multiByteCharactersAreEmittedWhole() {
        // "a😀b": the emoji's 4 bytes arrive one token at a time.
        int[] ids = TinyTokenizers.byteIds("a😀b");
        assertEquals(List.of("a", "", "", "", "😀", "b", ""), deltas(pureJava(), ids));
        assertEquals(List.of("a", "", "", "", "😀", "b", ""), deltas(IncrementalDetokenizer.of(tokenizer, true), ids));
    }

    @Test
    void thaiAndMergedTokens() {
        int[] thai = TinyTokenizers.byteIds("ต้อง");
        int[] ids = new int[thai.length + 2];
        ids[0] = TinyTokenizers.ABC;
        System.arraycopy(thai, 0, ids, 1, thai.length);
        ids[ids.length - 1] = TinyTokenizers.AB;
        List<String> out = deltas(IncrementalDetokenizer.of(tokenizer, true), ids);
        assertEquals("abcต้องab", String.join("", out));
        for (String delta : out) {
            assertFalse(delta.contains("\uFFFD"), delta);
        }
    }

    @Test
    void specialTokensAreSkippedOrKept() {
        int[] ids = {'a', TinyTokenizers.END, TinyTokenizers.TOOL, 'b'};
        assertEquals("a<tool>b", String.join("", deltas(IncrementalDetokenizer.of(tokenizer, true), ids)));
        assertEquals("a<|end|><tool>b", String.join("", deltas(IncrementalDetokenizer.of(tokenizer, false), ids)));
    }

    @Test
    void incompleteCharacterAtTheEndIsFlushed() {
        int[] euro = TinyTokenizers.byteIds("€");
        IncrementalDetokenizer d = IncrementalDetokenizer.of(tokenizer, true);
        assertEquals("x", d.next('x'));
        assertEquals("", d.flush());
        IncrementalDetokenizer partial = IncrementalDetokenizer.of(tokenizer, true);
        assertEquals("", partial.next(euro[0]));
        assertEquals("", partial.next(euro[1]));
        assertEquals("\uFFFD", partial.flush());
        assertEquals("", partial.flush());
    }

    @Test
    void invalidBytesFollowedByTextAreEmittedAsTheFullDecodeHasThem() {
        int[] ids = {0xE2, 0x82, 'a', 0x80, 0x80, 'b', 0xF0};
        String all = String.join("", deltas(IncrementalDetokenizer.of(tokenizer, true), ids));
        assertEquals(tokenizer.decode(ids, true), all);
        assertEquals("\uFFFDa\uFFFD\uFFFDb\uFFFD", all);
    }

    @Test
    void randomSequencesConcatenateToTheFullDecode() {
        Random random = new Random(42);
        for (int round = 0; round < 400; round++) {
            int n = 1 + random.nextInt(200);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) {
                // Mostly bytes of multi-byte characters, to split characters across tokens often.
                ids[i] = switch (random.nextInt(6)) {
                    case 0 -> 0x80 + random.nextInt(0x40);
                    case 1 -> 0xC0 + random.nextInt(0x40);
                    case 2 -> random.nextInt(TinyTokenizers.VOCAB);
                    default -> {
                        int[] chars = TinyTokenizers.byteIds(new String(Character.toChars(random.nextInt(0x1F600))));
                        yield chars[random.nextInt(chars.length)];
                    }
                };
            }
            String expected = tokenizer.decode(ids, true);
            assertEquals(
                    expected,
                    String.join("", deltas(IncrementalDetokenizer.of(tokenizer, true), ids)),
                    () -> Arrays.toString(ids));
            assertEquals(
                    TinyTokenizers.decode(ids, 0, n),
                    String.join("", deltas(pureJava(), ids)),
                    () -> Arrays.toString(ids));
        }
    }

    @Test
    void eachStepDecodesASmallWindowOnly() {
        int[] maxWindow = new int[1];
        int[] calls = new int[1];
        IncrementalDetokenizer d = new IncrementalDetokenizer((ids, from, to) -> {
            maxWindow[0] = Math.max(maxWindow[0], to - from);
            calls[0]++;
            return TinyTokenizers.decode(ids, from, to);
        });
        int[] ids = TinyTokenizers.byteIds("héllo wörld 😀 ต้อง ".repeat(500));
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            out.append(d.next(id));
        }
        out.append(d.flush());
        assertEquals("héllo wörld 😀 ต้อง ".repeat(500), out.toString());
        assertTrue(maxWindow[0] <= 8, "window " + maxWindow[0]);
        assertTrue(calls[0] <= 2 * ids.length + 2, "calls " + calls[0]);
    }

    @Test
    void aLongRunOfInvalidBytesDoesNotGrowTheWindowForever() {
        int[] maxWindow = new int[1];
        IncrementalDetokenizer d = new IncrementalDetokenizer((ids, from, to) -> {
            maxWindow[0] = Math.max(maxWindow[0], to - from);
            return TinyTokenizers.decode(ids, from, to);
        });
        int[] ids = new int[1000];
        Arrays.fill(ids, 0x80); // each a lone continuation byte: the text always ends with U+FFFD
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            out.append(d.next(id));
        }
        out.append(d.flush());
        assertEquals("\uFFFD".repeat(1000), out.toString());
        assertTrue(maxWindow[0] <= 2 * IncrementalDetokenizer.MAX_PENDING, "window " + maxWindow[0]);
    }

    @Test
    void skippedSpecialTokensDoNotGrowTheWindow() {
        int[] maxWindow = new int[1];
        IncrementalDetokenizer d = new IncrementalDetokenizer((ids, from, to) -> {
            maxWindow[0] = Math.max(maxWindow[0], to - from);
            return TinyTokenizers.decode(ids, from, to);
        });
        for (int i = 0; i < 1000; i++) {
            assertEquals("", d.next(TinyTokenizers.END));
        }
        assertEquals("a", d.next('a'));
        assertTrue(maxWindow[0] <= IncrementalDetokenizer.MAX_PENDING + 1, "window " + maxWindow[0]);
    }
}
