package dev.jepd.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class SamplingParamsTest {
    private static void rejects(String param, String message, Executable build) {
        InvalidSamplingParameterException e = assertThrows(InvalidSamplingParameterException.class, build);
        assertEquals(param, e.param());
        assertEquals(message, e.getMessage());
    }

    @Test
    void defaultsAreVllms() {
        SamplingParams p = SamplingParams.defaults();
        assertEquals(1.0, p.temperature());
        assertEquals(1.0, p.topP());
        assertEquals(0, p.topK());
        assertEquals(0.0, p.minP());
        assertEquals(16, p.maxTokens());
        assertEquals(1.0, p.repetitionPenalty());
        assertNull(p.seed());
        assertTrue(p.stop().isEmpty());
    }

    @Test
    void validationUsesVllmWording() {
        rejects("temperature", "temperature must be non-negative, got -0.5.", () -> SamplingParams.builder()
                .temperature(-0.5)
                .build());
        rejects("temperature", "temperature must be a finite number, got NaN.", () -> SamplingParams.builder()
                .temperature(Double.NaN)
                .build());
        rejects("top_p", "top_p must be in (0, 1], got 0.0.", () -> SamplingParams.builder()
                .topP(0)
                .build());
        rejects("top_p", "top_p must be in (0, 1], got 1.5.", () -> SamplingParams.builder()
                .topP(1.5)
                .build());
        rejects("top_k", "top_k must be 0 (disable), or at least 1, got -2.", () -> SamplingParams.builder()
                .topK(-2)
                .build());
        rejects("min_p", "min_p must be in [0, 1], got 1.1.", () -> SamplingParams.builder()
                .minP(1.1)
                .build());
        rejects("max_tokens", "max_tokens must be at least 1, got 0.", () -> SamplingParams.builder()
                .maxTokens(0)
                .build());
        rejects(
                "min_tokens",
                "min_tokens must be less than or equal to max_tokens=4, got 5.",
                () -> SamplingParams.builder().maxTokens(4).minTokens(5).build());
        rejects("presence_penalty", "presence_penalty must be in [-2, 2], got 2.5.", () -> SamplingParams.builder()
                .presencePenalty(2.5)
                .build());
        rejects("frequency_penalty", "frequency_penalty must be in [-2, 2], got -3.0.", () -> SamplingParams.builder()
                .frequencyPenalty(-3)
                .build());
        rejects(
                "repetition_penalty",
                "repetition_penalty must be greater than zero, got 0.0.",
                () -> SamplingParams.builder().repetitionPenalty(0).build());
        rejects("stop", "stop cannot contain an empty string.", () -> SamplingParams.builder()
                .stop(List.of("a", ""))
                .build());
        rejects("logprobs", "logprobs must be non-negative or -1, got -2.", () -> SamplingParams.builder()
                .logprobs(-2)
                .build());
        rejects(
                "stop_token_ids",
                "stop_token_ids must contain only integers, got [1, null].",
                () -> SamplingParams.builder()
                        .stopTokenIds(Arrays.asList(1, null))
                        .build());
        assertTrue(
                assertThrows(
                                IllegalArgumentException.class,
                                () -> SamplingParams.builder().temperature(-1).build())
                        instanceof InvalidSamplingParameterException);
    }

    @Test
    void normalisesLikeVllm() {
        SamplingParams greedy = SamplingParams.builder()
                .temperature(0)
                .topP(0.5)
                .topK(20)
                .minP(0.1)
                .build();
        assertTrue(greedy.isGreedy());
        assertEquals(1.0, greedy.topP());
        assertEquals(0, greedy.topK());
        assertEquals(0.0, greedy.minP());
        assertEquals(0.01, SamplingParams.builder().temperature(0.001).build().temperature());
        assertEquals(0, SamplingParams.builder().topK(-1).build().topK());
        assertNull(SamplingParams.builder().seed(-1L).build().seed());
        assertEquals(
                List.of(5, 3),
                SamplingParams.builder().stopTokenIds(List.of(5, 3, 5)).build().stopTokenIds());
        assertNull(SamplingParams.builder().maxTokens(null).build().maxTokens());
    }
}
