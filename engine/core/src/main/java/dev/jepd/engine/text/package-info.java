/**
 * Text in and out of the model. In: a Hugging Face {@code tokenizer.json} tokenizer
 * ({@link dev.jepd.engine.text.Tokenizer}, the Rust library through DJL), chat messages
 * ({@link dev.jepd.engine.text.ChatMessage}) rendered by the Qwen-VL ChatML template written in code
 * ({@link dev.jepd.engine.text.QwenChatTemplate}), and {@link dev.jepd.engine.text.PromptBuilder}, which
 * encodes the prompt and expands each image's single {@code <|image_pad|>} to its number of vision tokens,
 * recording where the embeddings go. Out: {@link dev.jepd.engine.text.IncrementalDetokenizer} streams the
 * text of generated tokens without ever splitting a UTF-8 character, and
 * {@link dev.jepd.engine.text.StopChecker} applies vLLM's stop semantics (max/min tokens, EOS, stop token ids,
 * stop strings across tokens) while holding back text that could still turn out to be a stop string.
 * Everything follows what Hugging Face and vLLM produce for the same request, checked against the golden
 * fixture in the models module.
 */
package dev.jepd.engine.text;
