/**
 * Prometheus metrics under vLLM's names ({@code vllm:time_to_first_token_seconds}, …) so dashboards and
 * {@code vllm bench} tooling read JEPD nodes unchanged, plus {@code jepd:} counters for the encoder cache.
 */
package dev.jepd.engine.metrics;
