package dev.jepd.engine.text;

import java.util.List;
import java.util.Objects;

/**
 * One chat message. OpenAI's string content is a single text part: the template renders both forms alike
 * (list content is the concatenation of its parts), and a {@code null} content (an assistant turn that only
 * called tools) is no part at all.
 */
public record ChatMessage(Role role, List<ContentPart> content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        content = List.copyOf(content);
    }

    public static ChatMessage of(Role role, String text) {
        return new ChatMessage(role, List.of(new ContentPart.Text(text)));
    }

    public static ChatMessage of(Role role, ContentPart... parts) {
        return new ChatMessage(role, List.of(parts));
    }

    public static ChatMessage system(String text) {
        return of(Role.SYSTEM, text);
    }

    public static ChatMessage user(String text) {
        return of(Role.USER, text);
    }

    public static ChatMessage user(ContentPart... parts) {
        return of(Role.USER, parts);
    }

    public static ChatMessage assistant(String text) {
        return of(Role.ASSISTANT, text);
    }

    /** The number of image parts. */
    public int imageCount() {
        int n = 0;
        for (ContentPart part : content) {
            if (part instanceof ContentPart.Image) {
                n++;
            }
        }
        return n;
    }
}
