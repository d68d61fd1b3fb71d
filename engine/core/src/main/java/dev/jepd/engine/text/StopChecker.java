package dev.jepd.engine.text;

/**
 * Turns a sequence's generated tokens into streamed text and decides when it ends, with the semantics of
 * vLLM's {@code check_stop} (scheduler) and {@code BaseIncrementalDetokenizer.update} (stop strings):
 *
 * <ul>
 *   <li>{@code max_tokens} is checked first: a last token that is also EOS finishes with {@code length};
 *   <li>before {@code min_tokens} tokens exist, neither EOS, stop token ids nor stop strings end the sequence,
 *       and stop strings are only searched in text of later tokens;
 *   <li>a stop token (EOS included) adds no text unless {@code include_stop_str_in_output};
 *   <li>a stop string may span tokens; the output ends before it (or right after it with
 *       {@code include_stop_str_in_output}) and text generated after it in the same step is dropped. The stop
 *       strings are searched in list order, as vLLM does.
 * </ul>
 *
 * While streaming, the longest end of the text that could still be the beginning of a stop string is held
 * back, so that no text is ever emitted and then retracted (vLLM holds back a fixed {@code max(len(stop))-1}
 * characters; the emitted text is the same, only sooner). When the sequence ends, everything left is emitted.
 * The concatenation of all deltas is the final output text.
 *
 * <p>One instance per sequence; not thread-safe.
 */
public final class StopChecker {
    /**
     * What one token produced.
     *
     * @param delta the text to send now (may be empty)
     * @param finishReason {@code null} while the sequence goes on
     * @param stopReason what stopped it, for {@link FinishReason#STOP}; otherwise {@code null}
     */
    public record Step(String delta, FinishReason finishReason, StopReason stopReason) {
        public boolean finished() {
            return finishReason != null;
        }
    }

    private final StopConditions conditions;
    private final IncrementalDetokenizer detokenizer;
    private final boolean holdBack;
    private final int eos;
    private final StringBuilder text = new StringBuilder();
    private int emitted;
    private int outputTokens;
    private FinishReason finishReason;

    public StopChecker(StopConditions conditions, IncrementalDetokenizer detokenizer) {
        this.conditions = conditions;
        this.detokenizer = detokenizer;
        this.holdBack = !conditions.stop().isEmpty() && !conditions.includeStopStrInOutput();
        this.eos = conditions.eosTokenId().orElse(-1);
    }

    /** Adds the next generated token. */
    public Step append(int tokenId) {
        if (finishReason != null) {
            throw new IllegalStateException("sequence already finished (" + finishReason.wireName() + ")");
        }
        int n = ++outputTokens;
        FinishReason finish = null;
        StopReason reason = null;
        if (n >= conditions.maxTokens()) {
            finish = FinishReason.LENGTH;
        } else if (n >= conditions.minTokens()) {
            if (!conditions.ignoreEos() && tokenId == eos) {
                finish = FinishReason.STOP;
                reason = new StopReason.Eos(tokenId);
            } else if (conditions.stopTokenIds().contains(tokenId)) {
                finish = FinishReason.STOP;
                reason = new StopReason.StopToken(tokenId);
            }
        }

        int checkFrom = text.length();
        if (finish != FinishReason.STOP || conditions.includeStopStrInOutput()) {
            text.append(detokenizer.next(tokenId));
        }
        if (finish != null) {
            text.append(detokenizer.flush());
        }
        if (n <= conditions.minTokens()) {
            checkFrom = text.length();
        }
        if (!conditions.stop().isEmpty() && n > conditions.minTokens()) {
            String stop = findStop(checkFrom);
            if (stop != null) {
                finish = FinishReason.STOP;
                reason = new StopReason.StopString(stop);
            }
        }

        int end = text.length();
        if (finish != null) {
            finishReason = finish;
        } else if (holdBack) {
            end -= heldBack();
        }
        String delta = "";
        if (end > emitted) {
            delta = text.substring(emitted, end);
            emitted = end;
        }
        return new Step(delta, finish, reason);
    }

    public boolean isFinished() {
        return finishReason != null;
    }

    /** The output text so far, held-back characters included (the final output once finished). */
    public String text() {
        return text.toString();
    }

    public int outputTokens() {
        return outputTokens;
    }

    /**
     * vLLM's {@code check_stop_strings}: the first stop string (in list order) that ends in the text added
     * since {@code checkFrom}; truncates the text accordingly.
     */
    private String findStop(int checkFrom) {
        int newChars = text.length() - checkFrom;
        if (newChars == 0) {
            return null;
        }
        for (String stop : conditions.stop()) {
            int at = text.indexOf(stop, Math.max(0, text.length() + 1 - newChars - stop.length()));
            if (at < 0) {
                continue;
            }
            int cut = conditions.includeStopStrInOutput() ? at + stop.length() : at;
            if (cut < text.length()) {
                text.setLength(cut);
            }
            return stop;
        }
        return null;
    }

    /** The length of the longest unemitted end of the text that is a proper prefix of a stop string. */
    private int heldBack() {
        int length = text.length();
        int hold = 0;
        for (String stop : conditions.stop()) {
            for (int k = Math.min(stop.length() - 1, length - emitted); k > hold; k--) {
                if (endsWithPrefix(stop, k)) {
                    hold = k;
                    break;
                }
            }
        }
        // Never split a surrogate pair between what is sent now and what is held back.
        int cut = length - hold;
        if (hold > 0 && cut > emitted && Character.isLowSurrogate(text.charAt(cut))) {
            hold++;
        }
        return hold;
    }

    private boolean endsWithPrefix(String stop, int k) {
        int from = text.length() - k;
        for (int i = 0; i < k; i++) {
            if (text.charAt(from + i) != stop.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
