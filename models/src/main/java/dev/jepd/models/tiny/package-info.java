/**
 * Deterministic Qwen2.5-VL checkpoints written from nothing, for tests, the demo and benchmarks: the
 * golden tiny model of {@code shared/golden} reproduced byte for byte (weights from a counter-based
 * splitmix64 generator keyed by tensor name, so any element can be computed on its own), plus variants
 * (f32 copy, sharded, untied head, Qwen2.5-VL-3B dimensions with few layers), and the Qwen2-VL and Qwen3-VL
 * golden fixtures ({@link dev.jepd.models.tiny.TinyQwen2VlWriter}, {@link dev.jepd.models.tiny.TinyQwen3VlWriter}).
 * Tensor names and shapes come
 * from the config through the model's own weight tables; how each tensor is initialised is a table of name
 * patterns
 * ({@link dev.jepd.models.tiny.Qwen25VlLayout}). Files are streamed chunk by chunk, never held whole.
 */
package dev.jepd.models.tiny;
