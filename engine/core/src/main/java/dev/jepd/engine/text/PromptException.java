package dev.jepd.engine.text;

/**
 * A request whose messages or prompt cannot be turned into model input: an unsupported role or content
 * part, an image count that does not match, a literal image placeholder typed by the user. The HTTP layer
 * answers 400 for it.
 */
public final class PromptException extends IllegalArgumentException {
    public PromptException(String message) {
        super(message);
    }
}
