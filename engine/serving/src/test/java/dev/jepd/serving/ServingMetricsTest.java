package dev.jepd.serving;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The exposition is classic Prometheus text with vLLM's names, readable by any scraper. */
class ServingMetricsTest {
    @Test
    void vllmNamesInClassicTextFormat() {
        ServingMetrics m = new ServingMetrics("tiny");
        m.gauge("vllm:num_requests_running", "running", () -> 3);
        m.timeToFirstToken(0.05);
        m.promptTokens(37);
        m.ecHit();
        String text = m.scrape();
        assertTrue(text.contains("vllm:num_requests_running{model_name=\"tiny\",} 3.0"), text);
        assertTrue(text.contains("vllm:prompt_tokens_total{model_name=\"tiny\",} 37.0"), text);
        assertTrue(text.contains("vllm:time_to_first_token_seconds_count{model_name=\"tiny\",} 1.0"), text);
        assertTrue(text.contains("jepd:ec_hits_total{model_name=\"tiny\",} 1.0"), text);
        assertFalse(text.contains("{vllm:"), "no quoted UTF-8 names: " + text);
    }
}
