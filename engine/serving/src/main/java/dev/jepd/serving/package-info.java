/**
 * What both node kinds share above the engine: the OpenAI wire format as JEPD nodes speak it (parsing and validating
 * {@code /v1/chat/completions} and {@code /v1/completions} bodies into engine inputs, building responses and stream
 * chunks the way vLLM writes them), the model runtime that loads a snapshot into a model, tokenizer, processor and
 * engine, the EC-first resolution of image items ({@link dev.jepd.serving.MultimodalInputs}) over the vision-tower
 * batcher both nodes encode with ({@link dev.jepd.serving.EncodeBatcher}), the node metrics in vLLM's names
 * ({@link dev.jepd.serving.ServingMetrics}), and what a node is ({@link dev.jepd.serving.NodeRole}) and is built
 * from ({@link dev.jepd.serving.NodeContext}).
 */
package dev.jepd.serving;
