/**
 * Next-token sampling with vLLM's semantics: {@link dev.jepd.engine.sampling.SamplingParams} (the request's
 * knobs, validated with vLLM's messages), a per-sequence {@link dev.jepd.engine.sampling.SamplingState}
 * (penalty history and the seeded random stream), the {@link dev.jepd.engine.sampling.Sampler} that turns one
 * row of logits into a token id (penalties, temperature, min-p, top-k, top-p, then a draw), and
 * {@link dev.jepd.engine.sampling.Logprobs} for OpenAI's {@code logprobs}/{@code top_logprobs}. Everything
 * works on plain {@code float[]} rows on the CPU; no tensor backend is involved.
 */
package dev.jepd.engine.sampling;
