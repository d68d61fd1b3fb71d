package dev.jepd.engine.text;

/**
 * The roles the Qwen2.5-VL chat template renders. It writes any role verbatim, but a {@code tool} message or
 * an assistant's {@code tool_calls} would be rendered without the tool markup the model was trained on, so
 * they are refused rather than silently mangled.
 */
public enum Role {
    SYSTEM("system"),
    USER("user"),
    ASSISTANT("assistant");

    private final String wireName;

    Role(String wireName) {
        this.wireName = wireName;
    }

    /** The name in OpenAI requests and in the prompt ({@code <|im_start|>user}). */
    public String wireName() {
        return wireName;
    }

    /** The role of an OpenAI message's {@code role} field. */
    public static Role parse(String role) {
        if (role == null) {
            throw new PromptException("message without a role");
        }
        // Exact names: the template writes the role verbatim, so "User" would not be "user" to the model.
        return switch (role) {
            case "system" -> SYSTEM;
            case "user" -> USER;
            case "assistant" -> ASSISTANT;
            case "tool", "function" ->
                throw new PromptException("role '" + role + "' is not supported: tool calling is not implemented");
            default -> throw new PromptException("unsupported message role '" + role + "'");
        };
    }
}
