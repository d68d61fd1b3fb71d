package dev.jepd.engine.sampling;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;

/**
 * How one request picks its tokens, with vLLM's names, defaults, checks and normalisations
 * ({@code vllm/sampling_params.py}): a temperature in (0, 0.01) is raised to 0.01, a temperature below
 * 1e-5 means greedy and then resets top-p, top-k and min-p to "off", {@code topK == -1} becomes 0 (off), a
 * seed of -1 means none, and stop token ids are de-duplicated in order.
 *
 * @param temperature 0 means greedy; at most 2
 * @param topP cumulative probability kept, in (0, 1]; 1 is off
 * @param topK tokens kept; 0 (or -1) is off
 * @param minP minimum probability relative to the most likely token, in [0, 1]; 0 is off
 * @param seed per-request seed; {@code null} draws from the sampler's global generator
 * @param maxTokens tokens to generate at most; {@code null} means up to the context length
 * @param minTokens tokens to generate before EOS or a stop token id may be sampled
 * @param stop strings that end the output (checked on the detokenized text, not here)
 * @param stopTokenIds token ids that end the output
 * @param includeStopStrInOutput whether the matched stop string stays in the text
 * @param repetitionPenalty >1 discourages tokens seen in the prompt or output (divides positive logits,
 *     multiplies negative ones); 1 is off
 * @param presencePenalty subtracted once from every token already generated, in [-2, 2]
 * @param frequencyPenalty subtracted per occurrence of a token already generated, in [-2, 2]
 * @param logprobs number of top log-probabilities to return per token; {@code null} for none, -1 for all
 */
public record SamplingParams(
        double temperature,
        double topP,
        int topK,
        double minP,
        Long seed,
        Integer maxTokens,
        int minTokens,
        List<String> stop,
        List<Integer> stopTokenIds,
        boolean ignoreEos,
        boolean includeStopStrInOutput,
        double repetitionPenalty,
        double presencePenalty,
        double frequencyPenalty,
        Integer logprobs) {

    /** Below this temperature sampling is greedy (vLLM's {@code _SAMPLING_EPS}). */
    public static final double GREEDY_EPS = 1e-5;
    /** Positive temperatures below this are raised to it (vLLM's {@code _MAX_TEMP}). */
    public static final double MIN_POSITIVE_TEMPERATURE = 1e-2;

    public SamplingParams {
        if (temperature > 0 && temperature < MIN_POSITIVE_TEMPERATURE) {
            temperature = MIN_POSITIVE_TEMPERATURE;
        }
        if (seed != null && seed == -1L) {
            seed = null;
        }
        stop = stop == null ? List.of() : Collections.unmodifiableList(new ArrayList<>(stop));
        if (stopTokenIds != null && stopTokenIds.stream().anyMatch(Objects::isNull)) {
            fail("stop_token_ids", "stop_token_ids must contain only integers, got " + stopTokenIds + ".");
        }
        stopTokenIds = stopTokenIds == null ? List.of() : List.copyOf(new LinkedHashSet<>(stopTokenIds));
        verify(
                temperature,
                topP,
                topK,
                minP,
                maxTokens,
                minTokens,
                stop,
                repetitionPenalty,
                presencePenalty,
                frequencyPenalty,
                logprobs);
        if (topK == -1) {
            topK = 0;
        }
        if (temperature < GREEDY_EPS) {
            topP = 1.0;
            topK = 0;
            minP = 0.0;
        }
    }

    private static void verify(
            double temperature,
            double topP,
            int topK,
            double minP,
            Integer maxTokens,
            int minTokens,
            List<String> stop,
            double repetitionPenalty,
            double presencePenalty,
            double frequencyPenalty,
            Integer logprobs) {
        if (!(presencePenalty >= -2.0 && presencePenalty <= 2.0)) {
            fail("presence_penalty", "presence_penalty must be in [-2, 2], got " + presencePenalty + ".");
        }
        if (!(frequencyPenalty >= -2.0 && frequencyPenalty <= 2.0)) {
            fail("frequency_penalty", "frequency_penalty must be in [-2, 2], got " + frequencyPenalty + ".");
        }
        if (!Double.isFinite(repetitionPenalty)) {
            fail("repetition_penalty", "repetition_penalty must be a finite number, got " + repetitionPenalty + ".");
        }
        if (repetitionPenalty <= 0.0) {
            fail("repetition_penalty", "repetition_penalty must be greater than zero, got " + repetitionPenalty + ".");
        }
        if (!Double.isFinite(temperature)) {
            fail("temperature", "temperature must be a finite number, got " + temperature + ".");
        }
        if (temperature < 0.0) {
            fail("temperature", "temperature must be non-negative, got " + temperature + ".");
        }
        if (temperature > 2.0) {
            fail("temperature", "temperature must be in [0, 2], got " + temperature + ".");
        }
        if (!(topP > 0.0 && topP <= 1.0)) {
            fail("top_p", "top_p must be in (0, 1], got " + topP + ".");
        }
        if (topK < -1) {
            fail("top_k", "top_k must be 0 (disable), or at least 1, got " + topK + ".");
        }
        if (!(minP >= 0.0 && minP <= 1.0)) {
            fail("min_p", "min_p must be in [0, 1], got " + minP + ".");
        }
        if (maxTokens != null && maxTokens < 1) {
            fail("max_tokens", "max_tokens must be at least 1, got " + maxTokens + ".");
        }
        if (minTokens < 0) {
            fail("min_tokens", "min_tokens must be greater than or equal to 0, got " + minTokens + ".");
        }
        if (maxTokens != null && minTokens > maxTokens) {
            fail(
                    "min_tokens",
                    "min_tokens must be less than or equal to max_tokens=" + maxTokens + ", got " + minTokens + ".");
        }
        if (logprobs != null && logprobs != -1 && logprobs < 0) {
            fail("logprobs", "logprobs must be non-negative or -1, got " + logprobs + ".");
        }
        for (String s : stop) {
            if (s == null || s.isEmpty()) {
                fail("stop", "stop cannot contain an empty string.");
            }
        }
    }

    private static void fail(String param, String message) {
        throw new InvalidSamplingParameterException(param, message);
    }

    /** vLLM's defaults: temperature 1, no top-p/top-k/min-p, 16 tokens, no penalties. */
    public static SamplingParams defaults() {
        return builder().build();
    }

    public static SamplingParams greedy(int maxTokens) {
        return builder().temperature(0).maxTokens(maxTokens).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder()
                .temperature(temperature)
                .topP(topP)
                .topK(topK)
                .minP(minP)
                .seed(seed)
                .maxTokens(maxTokens)
                .minTokens(minTokens)
                .stop(stop)
                .stopTokenIds(stopTokenIds)
                .ignoreEos(ignoreEos)
                .includeStopStrInOutput(includeStopStrInOutput)
                .repetitionPenalty(repetitionPenalty)
                .presencePenalty(presencePenalty)
                .frequencyPenalty(frequencyPenalty)
                .logprobs(logprobs);
    }

    public boolean isGreedy() {
        return temperature < GREEDY_EPS;
    }

    /** Whether any of the three penalties changes the logits. */
    public boolean hasPenalties() {
        return repetitionPenalty != 1.0 || presencePenalty != 0.0 || frequencyPenalty != 0.0;
    }

    /** Fills in vLLM's defaults; {@link #build()} validates. */
    public static final class Builder {
        private double temperature = 1.0;
        private double topP = 1.0;
        private int topK = 0;
        private double minP = 0.0;
        private Long seed;
        private Integer maxTokens = 16;
        private int minTokens = 0;
        private List<String> stop = new ArrayList<>();
        private List<Integer> stopTokenIds = new ArrayList<>();
        private boolean ignoreEos;
        private boolean includeStopStrInOutput;
        private double repetitionPenalty = 1.0;
        private double presencePenalty = 0.0;
        private double frequencyPenalty = 0.0;
        private Integer logprobs;

        private Builder() {}

        public Builder temperature(double v) {
            temperature = v;
            return this;
        }

        public Builder topP(double v) {
            topP = v;
            return this;
        }

        public Builder topK(int v) {
            topK = v;
            return this;
        }

        public Builder minP(double v) {
            minP = v;
            return this;
        }

        public Builder seed(Long v) {
            seed = v;
            return this;
        }

        public Builder maxTokens(Integer v) {
            maxTokens = v;
            return this;
        }

        public Builder minTokens(int v) {
            minTokens = v;
            return this;
        }

        public Builder stop(List<String> v) {
            stop = v;
            return this;
        }

        public Builder stopTokenIds(List<Integer> v) {
            stopTokenIds = v;
            return this;
        }

        public Builder ignoreEos(boolean v) {
            ignoreEos = v;
            return this;
        }

        public Builder includeStopStrInOutput(boolean v) {
            includeStopStrInOutput = v;
            return this;
        }

        public Builder repetitionPenalty(double v) {
            repetitionPenalty = v;
            return this;
        }

        public Builder presencePenalty(double v) {
            presencePenalty = v;
            return this;
        }

        public Builder frequencyPenalty(double v) {
            frequencyPenalty = v;
            return this;
        }

        public Builder logprobs(Integer v) {
            logprobs = v;
            return this;
        }

        public SamplingParams build() {
            return new SamplingParams(
                    temperature,
                    topP,
                    topK,
                    minP,
                    seed,
                    maxTokens,
                    minTokens,
                    stop,
                    stopTokenIds,
                    ignoreEos,
                    includeStopStrInOutput,
                    repetitionPenalty,
                    presencePenalty,
                    frequencyPenalty,
                    logprobs);
        }
    }
}
