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

    @Test
    void runningTotalsAreCountersUnderTheirOldNames() {
        ServingMetrics m = new ServingMetrics("tiny");
        long[] failures = {0};
        m.kvTransfer(() -> 4, () -> 3, () -> 1, () -> failures[0]);
        failures[0] = 2; // read at scrape time, not at registration
        String text = m.scrape();
        assertTrue(text.contains("# TYPE jepd:kv_nixl_pulls_total counter"), text);
        assertTrue(text.contains("# TYPE jepd:kv_transfer_failures_total counter"), text);
        assertTrue(text.contains("jepd:kv_nixl_pulls_total{model_name=\"tiny\",} 4.0"), text);
        assertTrue(text.contains("jepd:kv_transfer_failures_total{model_name=\"tiny\",} 2.0"), text);
        assertTrue(text.contains("jepd:kv_nixl_direct_pulls_total{model_name=\"tiny\",} 3.0"), text);
        assertTrue(text.contains("jepd:kv_nixl_staged_copies_total{model_name=\"tiny\",} 1.0"), text);
        assertFalse(text.contains("_total_total"), text);
        assertFalse(text.contains("gauge\njepd:kv_transfer_failures_total"), text);
    }
}
