/**
 * Qwen3-VL (dense, {@code Qwen3VLForConditionalGeneration}): its config, its vision tower as a weight table
 * (patch 16 with a biased Conv3d, learned position embeddings resampled to each grid, 2-D rotary, tanh-GELU
 * blocks, the main merger and the DeepStack mergers), and the architecture that joins it to the Qwen2 decoder in
 * its Qwen3 form. The encoder's output rows are vLLM's EC layout: the main merger's row, then each DeepStack
 * level's, side by side.
 */
package dev.jepd.models.qwen3vl;
