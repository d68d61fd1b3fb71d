/**
 * Generation over the paged KV cache: {@link dev.jepd.engine.generate.EngineCore} keeps the waiting and
 * running sequences, and each {@link dev.jepd.engine.generate.EngineCore#step()} schedules prefill chunks
 * and decode tokens under a token budget (continuous batching, chunked prefill), runs one forward pass,
 * samples, detokenizes and checks stop conditions. When blocks run out the newest running sequence is
 * preempted and later recomputed, as vLLM does; nothing fails for lack of blocks unless a single request
 * can never fit. Nodes see the engine through {@link dev.jepd.engine.generate.EngineClient}: an
 * {@link dev.jepd.engine.generate.EngineRequest} is a prepared prompt and its
 * {@link dev.jepd.engine.generate.KvHandoff} (none, hold for a remote decode, or load from a remote prefill).
 */
package dev.jepd.engine.generate;
