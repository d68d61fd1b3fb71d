/**
 * The Qwen2 decoder: RMSNorm, grouped-query attention with q/k/v bias, SwiGLU MLP, rotary positions on
 * one axis or three (M-RoPE, for the Qwen-VL family), tied or untied head, run over the paged KV cache; with
 * its options, Qwen3's (q/k norms, no bias, interleaved M-RoPE, Qwen3-VL's DeepStack additions).
 */
package dev.jepd.models.qwen2;
