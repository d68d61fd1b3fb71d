package dev.jepd.engine.generate;

import dev.jepd.engine.model.GenerationConfig;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.StopConditions;
import java.util.HashSet;
import java.util.OptionalInt;

/** Derives a request's stop conditions from its sampling parameters and the model's EOS ids. */
public final class Requests {
    private Requests() {}

    /**
     * @param maxTokens the output cap already resolved (vLLM: the request's, else what is left of
     *     {@code max_model_len})
     */
    public static StopConditions stopConditions(
            SamplingParams p, int maxTokens, OptionalInt modelEos, GenerationConfig generation) {
        StopConditions s = StopConditions.maxTokens(maxTokens)
                .withMinTokens(p.minTokens())
                .withIgnoreEos(p.ignoreEos())
                .withIncludeStopStrInOutput(p.includeStopStrInOutput())
                .withEos(modelEos, generation.eosTokenIds());
        if (p.stop() != null && !p.stop().isEmpty()) {
            s = s.withStop(p.stop());
        }
        if (p.stopTokenIds() != null && !p.stopTokenIds().isEmpty()) {
            s = s.withStopTokenIds(new HashSet<>(p.stopTokenIds()));
        }
        return s;
    }
}
