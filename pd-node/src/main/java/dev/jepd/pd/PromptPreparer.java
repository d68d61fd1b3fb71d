package dev.jepd.pd;

import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.serving.EncodedImage;
import dev.jepd.serving.ModelRuntime;
import java.util.List;

/**
 * Turns a parsed request into a runnable prompt (template, tokenizer, positions, stop conditions). Throws
 * {@link dev.jepd.engine.generate.RequestRejectedException} or {@link dev.jepd.engine.text.PromptException}
 * for prompts that cannot run.
 */
interface PromptPreparer {
    GenerationRequest chat(String id, List<ChatMessage> messages, List<EncodedImage> images, SamplingParams sampling);

    GenerationRequest text(String id, String text, SamplingParams sampling);

    GenerationRequest tokens(String id, int[] ids, SamplingParams sampling);

    static PromptPreparer of(ModelRuntime runtime) {
        return new PromptPreparer() {
            @Override
            public GenerationRequest chat(
                    String id, List<ChatMessage> messages, List<EncodedImage> images, SamplingParams sampling) {
                return runtime.prepare(id, messages, images, sampling);
            }

            @Override
            public GenerationRequest text(String id, String text, SamplingParams sampling) {
                return runtime.prepareText(id, text, sampling);
            }

            @Override
            public GenerationRequest tokens(String id, int[] ids, SamplingParams sampling) {
                return runtime.prepareTokens(id, ids, sampling);
            }
        };
    }
}
