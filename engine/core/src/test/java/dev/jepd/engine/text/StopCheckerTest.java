package dev.jepd.engine.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Stop semantics on a pure-Java byte-level vocabulary (ids 0–255 bytes, 256 "ab", 257 "abc"). */
class StopCheckerTest {
    private static final int AB = TinyTokenizers.AB;
    private static final int ABC = TinyTokenizers.ABC;

    private static StopChecker checker(StopConditions conditions) {
        return new StopChecker(conditions, new IncrementalDetokenizer(TinyTokenizers::decode));
    }

    /** Feeds ids until the sequence finishes; returns the steps. */
    private static List<StopChecker.Step> run(StopChecker checker, int... ids) {
        List<StopChecker.Step> steps = new ArrayList<>();
        for (int id : ids) {
            StopChecker.Step step = checker.append(id);
            steps.add(step);
            if (step.finished()) {
                break;
            }
        }
        return steps;
    }

    private static List<String> deltas(List<StopChecker.Step> steps) {
        return steps.stream().map(StopChecker.Step::delta).toList();
    }

    private static StopChecker.Step last(List<StopChecker.Step> steps) {
        return steps.getLast();
    }

    private static int[] ids(String text) {
        return TinyTokenizers.byteIds(text);
    }

    @Test
    void maxTokensFinishesWithLength() {
        StopChecker c = checker(StopConditions.maxTokens(3));
        List<StopChecker.Step> steps = run(c, ids("hello"));
        assertEquals(List.of("h", "e", "l"), deltas(steps));
        assertEquals(FinishReason.LENGTH, last(steps).finishReason());
        assertNull(last(steps).stopReason());
        assertTrue(c.isFinished());
        assertEquals(3, c.outputTokens());
        assertThrows(IllegalStateException.class, () -> c.append('x'));
    }

    @Test
    void eosStopsWithoutItsText() {
        StopConditions conditions = StopConditions.maxTokens(10).withEos(OptionalInt.of('.'), List.of());
        List<StopChecker.Step> steps = run(checker(conditions), ids("hi.there"));
        assertEquals(List.of("h", "i", ""), deltas(steps));
        assertEquals(FinishReason.STOP, last(steps).finishReason());
        assertEquals(new StopReason.Eos('.'), last(steps).stopReason());
        assertNull(last(steps).stopReason().wireValue());

        List<StopChecker.Step> kept = run(checker(conditions.withIncludeStopStrInOutput(true)), ids("hi.there"));
        assertEquals(List.of("h", "i", "."), deltas(kept));
    }

    @Test
    void lengthWinsOverEosOnTheLastToken() {
        StopConditions conditions = StopConditions.maxTokens(3).withEos(OptionalInt.of('.'), List.of());
        List<StopChecker.Step> steps = run(checker(conditions), ids("hi.x"));
        assertEquals(List.of("h", "i", "."), deltas(steps));
        assertEquals(FinishReason.LENGTH, last(steps).finishReason());
    }

    @Test
    void ignoreEos() {
        StopConditions conditions =
                StopConditions.maxTokens(5).withIgnoreEos(true).withEos(OptionalInt.of('.'), List.of());
        List<StopChecker.Step> steps = run(checker(conditions), ids("a.b.c"));
        assertEquals("a.b.c", String.join("", deltas(steps)));
        assertEquals(FinishReason.LENGTH, last(steps).finishReason());
    }

    @Test
    void stopTokenIds() {
        StopConditions conditions = StopConditions.maxTokens(10).withStopTokenIds(Set.of((int) ';'));
        List<StopChecker.Step> steps = run(checker(conditions), ids("ab;cd"));
        assertEquals(List.of("a", "b", ""), deltas(steps));
        assertEquals(new StopReason.StopToken(';'), last(steps).stopReason());
        assertEquals(Integer.valueOf(';'), last(steps).stopReason().wireValue());
    }

    @Test
    void generationConfigEosIdsBecomeStopTokenIdsAsInVllm() {
        StopConditions c = StopConditions.maxTokens(10).withEos(OptionalInt.of(151645), List.of(151645, 151643));
        assertEquals(OptionalInt.of(151645), c.eosTokenId());
        assertEquals(Set.of(151643), c.stopTokenIds());
        assertEquals(Set.of(151643, 151645), c.minTokensMaskedIds());
        StopConditions ignoring = StopConditions.maxTokens(10)
                .withIgnoreEos(true)
                .withEos(OptionalInt.of(151645), List.of(151645, 151643));
        assertEquals(Set.of(), ignoring.stopTokenIds());
    }

    @Test
    void stopStringInsideOneTokenTruncatesBeforeIt() {
        StopConditions conditions = StopConditions.maxTokens(10).withStop(List.of("bc"));
        List<StopChecker.Step> steps = run(checker(conditions), 'x', ABC, 'y');
        assertEquals(List.of("x", "a"), deltas(steps));
        assertEquals(FinishReason.STOP, last(steps).finishReason());
        assertEquals(new StopReason.StopString("bc"), last(steps).stopReason());
        assertEquals("bc", last(steps).stopReason().wireValue());
    }

    @Test
    void includedStopStringKeepsItAndDropsWhatFollowsInTheSameToken() {
        StopConditions conditions =
                StopConditions.maxTokens(10).withStop(List.of("ab")).withIncludeStopStrInOutput(true);
        StopChecker c = checker(conditions);
        List<StopChecker.Step> steps = run(c, 'x', ABC, 'y');
        assertEquals(List.of("x", "ab"), deltas(steps));
        assertEquals("xab", c.text());
    }

    @Test
    void stopStringAcrossTokensIsHeldBackAndNeverEmitted() {
        StopConditions conditions = StopConditions.maxTokens(20).withStop(List.of("STOP"));
        List<StopChecker.Step> steps = run(checker(conditions), ids("go STOP now"));
        assertEquals(List.of("g", "o", " ", "", "", "", ""), deltas(steps));
        assertEquals(new StopReason.StopString("STOP"), last(steps).stopReason());
    }

    @Test
    void heldBackTextIsReleasedWhenItStopsMatching() {
        StopConditions conditions = StopConditions.maxTokens(20).withStop(List.of("STOP"));
        StopChecker c = checker(conditions);
        List<StopChecker.Step> steps = run(c, ids("aSTx"));
        assertEquals(List.of("a", "", "", "STx"), deltas(steps));
        assertFalse(c.isFinished());
    }

    @Test
    void heldBackTextIsReleasedWhenTheSequenceEnds() {
        StopConditions conditions = StopConditions.maxTokens(3).withStop(List.of("STOP"));
        List<StopChecker.Step> steps = run(checker(conditions), ids("aST"));
        assertEquals(List.of("a", "", "ST"), deltas(steps));
        assertEquals(FinishReason.LENGTH, last(steps).finishReason());
    }

    @Test
    void onlyThePossibleStartOfAStopStringIsHeldBack() {
        // vLLM would hold back max(len)-1 = 5 characters; only "ab" can start "abcdef".
        StopConditions conditions = StopConditions.maxTokens(20).withStop(List.of("abcdef"));
        List<StopChecker.Step> steps = run(checker(conditions), ids("xyzab"));
        assertEquals(List.of("x", "y", "z", "", ""), deltas(steps));
    }

    @Test
    void stopStringsAreCheckedInListOrderAsInVllm() {
        StopConditions conditions = StopConditions.maxTokens(10).withStop(List.of("c", "b"));
        StopChecker c = checker(conditions);
        List<StopChecker.Step> steps = run(c, ABC);
        assertEquals(new StopReason.StopString("c"), last(steps).stopReason());
        assertEquals("ab", c.text());
    }

    @Test
    void stopStringAtTheVeryStartLeavesNothing() {
        StopConditions conditions = StopConditions.maxTokens(10).withStop(List.of("ab"));
        List<StopChecker.Step> steps = run(checker(conditions), AB, 'c');
        assertEquals(List.of(""), deltas(steps));
        assertEquals(FinishReason.STOP, last(steps).finishReason());
    }

    @Test
    void minTokensDelaysEosStopTokensAndStopStrings() {
        StopConditions eos = StopConditions.maxTokens(10).withMinTokens(3).withEos(OptionalInt.of('.'), List.of());
        List<StopChecker.Step> steps = run(checker(eos), ids("...."));
        assertEquals(List.of(".", ".", ""), deltas(steps));
        assertEquals(FinishReason.STOP, last(steps).finishReason());

        // The text of the first min_tokens tokens is not searched: the first "a" cannot stop.
        StopConditions stop = StopConditions.maxTokens(10).withMinTokens(2).withStop(List.of("a"));
        StopChecker c = checker(stop);
        List<StopChecker.Step> stepsStop = run(c, ids("abab"));
        assertEquals(List.of("a", "b", ""), deltas(stepsStop));
        assertEquals("ab", c.text());
    }

    @Test
    void multiByteCharactersAndStopStrings() {
        StopConditions conditions = StopConditions.maxTokens(30).withStop(List.of("😀!"));
        StopChecker c = checker(conditions);
        List<StopChecker.Step> steps = run(c, ids("x😀y😀!z"));
        assertEquals("x😀y", String.join("", deltas(steps)));
        // the first emoji is held back until "y" shows it is not followed by "!"
        assertEquals(List.of("x", "", "", "", "", "😀y"), deltas(steps).subList(0, 6));
        assertEquals(new StopReason.StopString("😀!"), last(steps).stopReason());
    }

    @Test
    void invalidConditionsAreRefused() {
        assertThrows(PromptException.class, () -> StopConditions.maxTokens(0));
        assertThrows(PromptException.class, () -> StopConditions.maxTokens(3).withMinTokens(4));
        assertThrows(PromptException.class, () -> StopConditions.maxTokens(3).withStop(List.of("")));
        assertThrows(PromptException.class, () -> StopConditions.maxTokens(3).withStop(List.of("a\uD83D")));
    }

    /**
     * Random streams against a transcription of vLLM's algorithm (fixed hold-back buffer of max(len(stop))-1
     * code points): same final text, finish and stop reason; the deltas concatenate to the final text; and
     * at every step at least as much text has been sent as vLLM would have sent.
     */
    @Test
    void matchesVllmOnRandomStreams() {
        Random random = new Random(1234);
        int[] alphabet = {'a', 'b', 'c', ' ', '.', AB, ABC, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80};
        String[] stopAlphabet = {"a", "b", "c", " ", "é", "😀", "."};
        for (int round = 0; round < 3000; round++) {
            List<String> stops = new ArrayList<>();
            int nStops = random.nextInt(3);
            for (int s = 0; s < nStops; s++) {
                StringBuilder sb = new StringBuilder();
                for (int k = 0, len = 1 + random.nextInt(3); k < len; k++) {
                    sb.append(stopAlphabet[random.nextInt(stopAlphabet.length)]);
                }
                stops.add(sb.toString());
            }
            int max = 1 + random.nextInt(25);
            StopConditions conditions = StopConditions.maxTokens(max)
                    .withMinTokens(random.nextInt(3) == 0 ? random.nextInt(max + 1) : 0)
                    .withStop(stops)
                    .withIncludeStopStrInOutput(random.nextBoolean())
                    .withStopTokenIds(random.nextInt(3) == 0 ? Set.of((int) 'c') : Set.of())
                    .withEos(random.nextBoolean() ? OptionalInt.of('.') : OptionalInt.empty(), List.of());
            int[] ids = new int[max];
            for (int i = 0; i < max; i++) {
                ids[i] = alphabet[random.nextInt(alphabet.length)];
            }

            StopChecker mine = checker(conditions);
            VllmReference reference = new VllmReference(conditions);
            StringBuilder sent = new StringBuilder();
            StopChecker.Step step = null;
            VllmReference.Result expected = null;
            for (int id : ids) {
                step = mine.append(id);
                expected = reference.append(id);
                sent.append(step.delta());
                String context = "round " + round + " " + conditions + " ids " + java.util.Arrays.toString(ids);
                assertTrue(sent.length() >= reference.sent, context);
                assertEquals(expected.finish(), step.finishReason(), context);
                if (step.finished()) {
                    assertEquals(expected.stopReason(), step.stopReason(), context);
                    assertEquals(reference.output.toString(), mine.text(), context);
                    assertEquals(mine.text(), sent.toString(), context);
                    break;
                }
            }
            assertTrue(step.finished());
        }
    }

    /** vLLM v1's check_stop + BaseIncrementalDetokenizer.update + get_next_output_text(delta=True). */
    private static final class VllmReference {
        record Result(FinishReason finish, StopReason stopReason) {}

        private final StopConditions c;
        private final IncrementalDetokenizer detokenizer = new IncrementalDetokenizer(TinyTokenizers::decode);
        final StringBuilder output = new StringBuilder();
        int sent;
        private int n;

        VllmReference(StopConditions c) {
            this.c = c;
        }

        Result append(int id) {
            n++;
            FinishReason finish = null;
            StopReason reason = null;
            if (n >= c.maxTokens()) {
                finish = FinishReason.LENGTH;
            } else if (n >= c.minTokens()) {
                if (!c.ignoreEos()
                        && c.eosTokenId().isPresent()
                        && id == c.eosTokenId().getAsInt()) {
                    finish = FinishReason.STOP;
                    reason = new StopReason.Eos(id);
                } else if (c.stopTokenIds().contains(id)) {
                    finish = FinishReason.STOP;
                    reason = new StopReason.StopToken(id);
                }
            }
            int stopCheckOffset = output.length();
            if (!(finish == FinishReason.STOP && !c.includeStopStrInOutput())) {
                output.append(detokenizer.next(id));
            }
            if (finish != null) {
                output.append(detokenizer.flush()); // JEPD's flush; vLLM keeps a trailing U+FFFD unsent
            }
            if (c.minTokens() > 0 && n <= c.minTokens()) {
                stopCheckOffset = output.length();
            }
            if (!c.stop().isEmpty() && n > c.minTokens()) {
                int newChars = output.length() - stopCheckOffset;
                if (newChars > 0) {
                    for (String stop : c.stop()) {
                        int at = output.indexOf(stop, Math.max(0, output.length() + 1 - newChars - stop.length()));
                        if (at == -1) {
                            continue;
                        }
                        if (c.includeStopStrInOutput()) {
                            at += stop.length();
                            if (at < output.length()) {
                                output.setLength(at);
                            }
                        } else {
                            output.setLength(at);
                        }
                        finish = FinishReason.STOP;
                        reason = new StopReason.StopString(stop);
                        break;
                    }
                }
            }
            int buffer = 0;
            if (finish == null && !c.stop().isEmpty() && !c.includeStopStrInOutput()) {
                buffer = c.stop().stream()
                                .mapToInt(s -> s.codePointCount(0, s.length()))
                                .max()
                                .orElse(0)
                        - 1;
            }
            String text = output.toString();
            int codePoints = text.codePointCount(0, text.length());
            int length = codePoints <= buffer ? 0 : text.offsetByCodePoints(text.length(), -buffer);
            if (sent < length) {
                sent = length;
            }
            return new Result(finish, reason);
        }
    }
}
