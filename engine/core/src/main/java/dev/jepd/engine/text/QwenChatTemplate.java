package dev.jepd.engine.text;

import java.util.List;

/**
 * The Qwen-VL ChatML template, the {@code chat_template} of their {@code chat_template.json}, written in code.
 * Rendering follows the Jinja source exactly:
 *
 * <pre>
 * for each message:
 *   if first and role != system and there is a default system prompt:
 *     "&lt;|im_start|&gt;system\n" defaultSystemPrompt "&lt;|im_end|&gt;\n"
 *   "&lt;|im_start|&gt;" role "\n"
 *   for each part: image -&gt; ["Picture k: "] "&lt;|vision_start|&gt;&lt;|image_pad|&gt;&lt;|vision_end|&gt;"
 *                  text  -&gt; the text, no separator
 *   "&lt;|im_end|&gt;\n"
 * if add_generation_prompt: "&lt;|im_start|&gt;assistant\n"
 * </pre>
 *
 * A system message with list content renders like any other message (its parts in order). Images are
 * counted across the whole conversation for {@code add_vision_id}'s "Picture k: " prefix (off by default, as
 * in vLLM unless {@code chat_template_kwargs} sets it). Video parts and tools are not supported.
 *
 * Qwen2-VL and Qwen2.5-VL prepend "You are a helpful assistant." ({@link #DEFAULT}); Qwen3-VL's Instruct
 * template has no default system prompt ({@link #QWEN3_VL}); otherwise the two render alike for these parts.
 *
 * @param addVisionId the template's {@code add_vision_id} switch
 * @param defaultSystemPrompt the system turn rendered when the conversation opens without one, or null for none
 */
public record QwenChatTemplate(boolean addVisionId, String defaultSystemPrompt) {
    public static final QwenChatTemplate DEFAULT = new QwenChatTemplate(false);
    /** Qwen3-VL (Instruct): no default system turn. */
    public static final QwenChatTemplate QWEN3_VL = new QwenChatTemplate(false, null);

    /** Qwen2-VL / Qwen2.5-VL's template, with its default system prompt. */
    public QwenChatTemplate(boolean addVisionId) {
        this(addVisionId, DEFAULT_SYSTEM_PROMPT);
    }

    public static final String DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant.";
    public static final String IM_START = "<|im_start|>";
    public static final String IM_END = "<|im_end|>";
    public static final String VISION_START = "<|vision_start|>";
    public static final String IMAGE_PAD = "<|image_pad|>";
    public static final String VISION_END = "<|vision_end|>";
    /** What one image part renders to; its single pad is expanded to the image's token count later. */
    public static final String IMAGE_PLACEHOLDER = VISION_START + IMAGE_PAD + VISION_END;

    /** The prompt text with the generation prompt appended ({@code add_generation_prompt=True}, vLLM's default). */
    public String render(List<ChatMessage> messages) {
        return render(messages, true);
    }

    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        StringBuilder out = new StringBuilder(256);
        int images = 0;
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage message = messages.get(i);
            if (i == 0 && message.role() != Role.SYSTEM && defaultSystemPrompt != null) {
                out.append(IM_START)
                        .append(Role.SYSTEM.wireName())
                        .append('\n')
                        .append(defaultSystemPrompt)
                        .append(IM_END)
                        .append('\n');
            }
            out.append(IM_START).append(message.role().wireName()).append('\n');
            for (ContentPart part : message.content()) {
                switch (part) {
                    case ContentPart.Text text -> out.append(text.text());
                    case ContentPart.Image image -> {
                        images++;
                        if (addVisionId) {
                            out.append("Picture ").append(images).append(": ");
                        }
                        out.append(IMAGE_PLACEHOLDER);
                    }
                }
            }
            out.append(IM_END).append('\n');
        }
        if (addGenerationPrompt) {
            out.append(IM_START).append(Role.ASSISTANT.wireName()).append('\n');
        }
        return out.toString();
    }
}
