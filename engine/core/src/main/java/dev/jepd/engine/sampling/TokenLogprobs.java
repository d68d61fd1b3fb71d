package dev.jepd.engine.sampling;

/**
 * The log-probabilities OpenAI's {@code logprobs} reports for one generated token.
 *
 * @param tokenId the chosen token
 * @param logprob its log-softmax value
 * @param rank 1 + the number of other tokens at least as likely (vLLM counts {@code >=}, so 1 is the best)
 * @param topTokenIds the {@code top_logprobs} most likely tokens, most likely first (ties: lower id first)
 * @param topLogprobs their log-softmax values
 */
public record TokenLogprobs(int tokenId, float logprob, int rank, int[] topTokenIds, float[] topLogprobs) {}
