package dev.jepd.engine.text;

import java.util.Objects;

/** One part of a chat message's content, in the order the client sent them. */
public sealed interface ContentPart permits ContentPart.Text, ContentPart.Image {

    /** A {@code {"type":"text"}} part; parts are concatenated without separators. */
    record Text(String text) implements ContentPart {
        public Text {
            Objects.requireNonNull(text, "text");
        }
    }

    /**
     * An image part. {@code index} refers to the request's images (0, 1, … across all messages); the bytes,
     * their preprocessing and their token count live elsewhere.
     */
    record Image(int index) implements ContentPart {
        public Image {
            if (index < 0) {
                throw new IllegalArgumentException("negative image index " + index);
            }
        }
    }

    static ContentPart text(String text) {
        return new Text(text);
    }

    static ContentPart image(int index) {
        return new Image(index);
    }
}
