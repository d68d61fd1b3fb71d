package dev.jepd.engine.sampling;

import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * What the sampler needs to remember about one sequence between steps: its parameters, the prompt and
 * output tokens the penalties look at, how many tokens it has generated (for {@code min_tokens} and for
 * the seeded random stream) and the token ids that {@code min_tokens} holds back.
 *
 * <p>Seeded sequences draw their uniform for output token {@code t} from a counter-based generator keyed by
 * {@code (seed, t)}: the draw depends on nothing else, so the same seed gives the same tokens whatever else
 * runs in the batch, after a preemption and recompute, and on a decode node continuing a prefill node's
 * sequence. Not thread-safe; a state belongs to the thread that schedules its sequence.
 */
public final class SamplingState {
    private final SamplingParams params;
    // Distinct prompt ids, sorted; only kept when the repetition penalty needs them.
    private final int[] promptTokens;
    // token id -> occurrences in the output; only kept when a penalty needs it.
    private final Map<Integer, Integer> outputCounts;
    private final int[] minTokensBlocked;
    private int numOutputTokens;

    /**
     * @param promptTokenIds the prompt, for the repetition penalty
     * @param eosTokenIds the model's EOS ids (config and generation_config), held back with the stop token ids
     *     until {@code min_tokens} tokens exist, as vLLM does whether or not {@code ignore_eos} is set
     */
    public SamplingState(SamplingParams params, int[] promptTokenIds, int... eosTokenIds) {
        this.params = params;
        this.promptTokens = params.repetitionPenalty() != 1.0
                ? Arrays.stream(promptTokenIds).distinct().sorted().toArray()
                : new int[0];
        this.outputCounts = params.hasPenalties() ? new HashMap<>() : null;
        Set<Integer> blocked = new LinkedHashSet<>(params.stopTokenIds());
        for (int eos : eosTokenIds) {
            blocked.add(eos);
        }
        this.minTokensBlocked = blocked.stream().mapToInt(Integer::intValue).toArray();
    }

    public SamplingParams params() {
        return params;
    }

    public int numOutputTokens() {
        return numOutputTokens;
    }

    /**
     * Records an output token. {@link Sampler#sample} calls this itself; call it directly only for tokens
     * produced elsewhere (for example the first token, sampled by a prefill node).
     */
    public void appendOutput(int tokenId) {
        if (outputCounts != null) {
            outputCounts.merge(tokenId, 1, Integer::sum);
        }
        numOutputTokens++;
    }

    /** Whether the stop token ids and EOS are still held back by {@code min_tokens}. */
    boolean minTokensActive() {
        return numOutputTokens < params.minTokens() && minTokensBlocked.length > 0;
    }

    int[] minTokensBlocked() {
        return minTokensBlocked;
    }

    /**
     * vLLM's {@code apply_penalties}: the repetition penalty on every token of the prompt or the output
     * (positive logits divided, others multiplied), then frequency × count and presence once for every
     * token of the output.
     */
    void applyPenalties(float[] logits) {
        if (outputCounts == null) {
            return;
        }
        float rep = (float) params.repetitionPenalty();
        if (rep != 1.0f) {
            for (int id : promptTokens) {
                if (id >= 0 && id < logits.length) {
                    logits[id] = repetition(logits[id], rep);
                }
            }
            for (int id : outputCounts.keySet()) {
                if (id >= 0 && id < logits.length && Arrays.binarySearch(promptTokens, id) < 0) {
                    logits[id] = repetition(logits[id], rep);
                }
            }
        }
        float freq = (float) params.frequencyPenalty();
        float presence = (float) params.presencePenalty();
        if (freq != 0.0f || presence != 0.0f) {
            for (var e : outputCounts.entrySet()) {
                int id = e.getKey();
                if (id >= 0 && id < logits.length) {
                    logits[id] -= freq * e.getValue();
                    logits[id] -= presence;
                }
            }
        }
    }

    private static float repetition(float logit, float penalty) {
        return logit > 0 ? logit * (1.0f / penalty) : logit * penalty;
    }

    /** The uniform in [0, 1) for the next token of a seeded sequence. */
    double seededUniform() {
        return CounterRandom.uniform(params.seed(), numOutputTokens);
    }
}
