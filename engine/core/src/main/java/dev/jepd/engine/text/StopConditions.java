package dev.jepd.engine.text;

import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;

/**
 * When a sequence ends, with vLLM's {@code SamplingParams} semantics.
 *
 * @param maxTokens the most tokens to generate (vLLM clamps an absent {@code max_tokens} to what the
 *     context has left; so must the caller)
 * @param minTokens no EOS, stop token or stop string ends the sequence before this many tokens
 * @param stop stop strings, checked in this order; the text ends before the first one found (or after it,
 *     with {@code includeStopStrInOutput})
 * @param stopTokenIds token ids that end the sequence ({@code stop_reason} = the id)
 * @param includeStopStrInOutput keep the stop string (and the text of a stop token) in the output
 * @param ignoreEos do not stop at {@code eosTokenId} (nor at generation_config's extra EOS ids)
 * @param eosTokenId the tokenizer's EOS token ({@code stop_reason} null)
 */
public record StopConditions(
        int maxTokens,
        int minTokens,
        List<String> stop,
        Set<Integer> stopTokenIds,
        boolean includeStopStrInOutput,
        boolean ignoreEos,
        OptionalInt eosTokenId) {

    public StopConditions {
        if (maxTokens < 1) {
            throw new PromptException("max_tokens must be at least 1, got " + maxTokens);
        }
        if (minTokens < 0 || minTokens > maxTokens) {
            throw new PromptException(
                    "min_tokens must be between 0 and max_tokens (" + maxTokens + "), got " + minTokens);
        }
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new PromptException("stop cannot contain an empty string");
            }
            if (!wellFormed(s)) {
                throw new PromptException("stop string " + s + " contains an unpaired surrogate");
            }
        }
        stop = List.copyOf(stop);
        stopTokenIds = Set.copyOf(stopTokenIds);
    }

    /** Stop only at {@code maxTokens}. */
    public static StopConditions maxTokens(int maxTokens) {
        return new StopConditions(maxTokens, 0, List.of(), Set.of(), false, false, OptionalInt.empty());
    }

    public StopConditions withMinTokens(int minTokens) {
        return new StopConditions(
                maxTokens, minTokens, stop, stopTokenIds, includeStopStrInOutput, ignoreEos, eosTokenId);
    }

    public StopConditions withStop(List<String> stop) {
        return new StopConditions(
                maxTokens, minTokens, stop, stopTokenIds, includeStopStrInOutput, ignoreEos, eosTokenId);
    }

    public StopConditions withStopTokenIds(Set<Integer> stopTokenIds) {
        return new StopConditions(
                maxTokens, minTokens, stop, stopTokenIds, includeStopStrInOutput, ignoreEos, eosTokenId);
    }

    public StopConditions withIncludeStopStrInOutput(boolean includeStopStrInOutput) {
        return new StopConditions(
                maxTokens, minTokens, stop, stopTokenIds, includeStopStrInOutput, ignoreEos, eosTokenId);
    }

    public StopConditions withIgnoreEos(boolean ignoreEos) {
        return new StopConditions(
                maxTokens, minTokens, stop, stopTokenIds, includeStopStrInOutput, ignoreEos, eosTokenId);
    }

    /**
     * The model's EOS ids, as vLLM's {@code update_from_generation_config}: {@code modelEos} (the tokenizer's
     * {@code eos_token}) is the EOS; the other ids of generation_config.json's {@code eos_token_id} join the
     * stop token ids unless {@code ignoreEos}. Call after {@link #withIgnoreEos}.
     */
    public StopConditions withEos(OptionalInt modelEos, List<Integer> generationConfigEos) {
        Set<Integer> extra = new LinkedHashSet<>(generationConfigEos);
        modelEos.ifPresent(extra::remove);
        Set<Integer> stopIds = new LinkedHashSet<>(stopTokenIds);
        if (!ignoreEos) {
            stopIds.addAll(extra);
        }
        return new StopConditions(maxTokens, minTokens, stop, stopIds, includeStopStrInOutput, ignoreEos, modelEos);
    }

    /** The ids a sampler must mask while fewer than {@code minTokens} tokens exist: EOS and stop tokens. */
    public Set<Integer> minTokensMaskedIds() {
        Set<Integer> ids = new HashSet<>(stopTokenIds);
        eosTokenId.ifPresent(ids::add);
        return Set.copyOf(ids);
    }

    private static boolean wellFormed(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 == s.length() || !Character.isLowSurrogate(s.charAt(i + 1))) {
                    return false;
                }
                i++;
            } else if (Character.isLowSurrogate(c)) {
                return false;
            }
        }
        return true;
    }
}
