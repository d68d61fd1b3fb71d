package dev.jepd.engine.text;

/**
 * The vision token ids of a Qwen-VL model, from its {@code config.json} ({@code image_token_id},
 * {@code vision_start_token_id}, {@code vision_end_token_id}; 151655, 151652, 151653 for Qwen2.5-VL).
 */
public record SpecialTokens(int imageTokenId, int visionStartTokenId, int visionEndTokenId) {

    /** Fails unless the tokenizer gives the template's marker tokens these ids: config and tokenizer must agree. */
    public void checkAgainst(Tokenizer tokenizer) {
        check(tokenizer, QwenChatTemplate.IMAGE_PAD, "image_token_id", imageTokenId);
        check(tokenizer, QwenChatTemplate.VISION_START, "vision_start_token_id", visionStartTokenId);
        check(tokenizer, QwenChatTemplate.VISION_END, "vision_end_token_id", visionEndTokenId);
    }

    private static void check(Tokenizer tokenizer, String content, String key, int expected) {
        int actual = tokenizer.requireTokenId(content);
        if (actual != expected) {
            throw new IllegalArgumentException("config.json " + key + " is " + expected + " but " + tokenizer + " has "
                    + content + " = " + actual);
        }
    }
}
