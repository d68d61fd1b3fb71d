/**
 * What the Qwen-VL families (Qwen2-VL, Qwen2.5-VL, Qwen3-VL) share above their decoders and vision towers:
 * M-RoPE prompt positions ({@link dev.jepd.models.qwenvl.MropePositions}) and the checkpoint's prefix map
 * onto the components' weight tables ({@link dev.jepd.models.qwenvl.QwenVlCheckpoint}). Media-generic
 * preprocessing (smart resize, bicubic, PIL RGB, the patch order) stays in {@code dev.jepd.media}, which the
 * proxy shares; the chat template stays in {@code dev.jepd.engine.text}, where the prompt builder uses it.
 */
package dev.jepd.models.qwenvl;
