package dev.jepd.engine.model;

/** A model directory that cannot be served: missing files, unknown architecture, bad config. */
public class ModelLoadException extends RuntimeException {
    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
