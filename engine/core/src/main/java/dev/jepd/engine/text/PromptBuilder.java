package dev.jepd.engine.text;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Turns a chat request into model input ids. The template is rendered with one {@code <|image_pad|>} per
 * image and encoded as a whole (so BPE merges see the same text Hugging Face's processor sees); then, at token
 * level, the i-th pad becomes {@code N_i} pads, where {@code N_i} is the image's number of merged vision
 * tokens ({@code grid_t*grid_h*grid_w / merge²}). This equals what Hugging Face's processor does by repeating
 * the pad in the text before tokenizing, because the pad is a special token that BPE never merges.
 */
public final class PromptBuilder {
    private final Tokenizer tokenizer;
    private final SpecialTokens special;
    private final QwenChatTemplate template;

    public PromptBuilder(Tokenizer tokenizer, SpecialTokens special, QwenChatTemplate template) {
        special.checkAgainst(tokenizer);
        this.tokenizer = tokenizer;
        this.special = special;
        this.template = template;
    }

    /**
     * The prompt of a chat request.
     *
     * @param imageTokens for each image index (see {@link ContentPart.Image#index()}), its number of merged
     *     vision tokens; every index must appear exactly once in the messages
     */
    public Prompt chat(List<ChatMessage> messages, int[] imageTokens) {
        return chat(messages, imageTokens, Integer.MAX_VALUE);
    }

    /**
     * As {@link #chat(List, int[])}, refusing a rendered text of more than {@code maxTextTokens} tokens (each
     * image's pad counted once) before all of it is encoded.
     *
     * @throws TooManyTokensException when the text has more tokens than that
     */
    public Prompt chat(List<ChatMessage> messages, int[] imageTokens, int maxTextTokens) {
        List<Integer> order = imageOrder(messages, imageTokens);
        int[] ids = tokenizer.encode(template.render(messages, true), maxTextTokens);

        int pads = 0;
        int expanded = ids.length;
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == special.imageTokenId()) {
                if (pads < order.size()) {
                    checkWrapped(ids, i);
                    expanded += imageTokens[order.get(pads)] - 1;
                }
                pads++;
            }
        }
        if (pads != order.size()) {
            throw new PromptException("the prompt has " + pads + " image placeholders but the request has "
                    + order.size() + " images (is '" + QwenChatTemplate.IMAGE_PAD + "' written in a text part?)");
        }

        int[] out = new int[expanded]; // [prompt tokens with each image's pad repeated N_i times]
        List<ImageSpan> spans = new ArrayList<>(order.size());
        int o = 0;
        int image = 0;
        for (int id : ids) {
            if (id == special.imageTokenId()) {
                int index = order.get(image++);
                int n = imageTokens[index];
                spans.add(new ImageSpan(index, o, n));
                Arrays.fill(out, o, o + n, id);
                o += n;
            } else {
                out[o++] = id;
            }
        }
        return new Prompt(out, spans);
    }

    /** The prompt of a {@code /v1/completions} text prompt: encoded as is, nothing added. */
    public Prompt text(String prompt) {
        return text(prompt, Integer.MAX_VALUE);
    }

    /**
     * As {@link #text(String)}, refusing a prompt of more than {@code maxTokens} tokens before all of it is
     * encoded.
     *
     * @throws TooManyTokensException when the prompt has more tokens than that
     */
    public Prompt text(String prompt, int maxTokens) {
        return tokens(tokenizer.encode(prompt, maxTokens));
    }

    /** The prompt of a {@code /v1/completions} token-id prompt. */
    public Prompt tokens(int[] ids) {
        for (int id : ids) {
            if (id == special.imageTokenId()) {
                throw new PromptException("a text prompt cannot contain the image token " + QwenChatTemplate.IMAGE_PAD
                        + " (id " + id + ")");
            }
        }
        return new Prompt(ids, List.of());
    }

    /** The image indices in the order the template renders them, checked against {@code imageTokens}. */
    private static List<Integer> imageOrder(List<ChatMessage> messages, int[] imageTokens) {
        List<Integer> order = new ArrayList<>(imageTokens.length);
        boolean[] seen = new boolean[imageTokens.length];
        for (ChatMessage message : messages) {
            for (ContentPart part : message.content()) {
                if (part instanceof ContentPart.Image image) {
                    int index = image.index();
                    if (index >= imageTokens.length) {
                        throw new PromptException(
                                "image index " + index + " but token counts for " + imageTokens.length + " images");
                    }
                    if (seen[index]) {
                        throw new PromptException("image index " + index + " appears twice");
                    }
                    if (imageTokens[index] < 1) {
                        throw new PromptException("image " + index + " has " + imageTokens[index] + " tokens");
                    }
                    seen[index] = true;
                    order.add(index);
                }
            }
        }
        if (order.size() != imageTokens.length) {
            throw new PromptException(
                    "token counts for " + imageTokens.length + " images but the messages have " + order.size());
        }
        return order;
    }

    private void checkWrapped(int[] ids, int pad) {
        if (pad == 0
                || pad == ids.length - 1
                || ids[pad - 1] != special.visionStartTokenId()
                || ids[pad + 1] != special.visionEndTokenId()) {
            throw new PromptException("an image pad at token " + pad + " is not between "
                    + QwenChatTemplate.VISION_START + " and " + QwenChatTemplate.VISION_END
                    + " (is a vision marker written in a text part?)");
        }
    }
}
