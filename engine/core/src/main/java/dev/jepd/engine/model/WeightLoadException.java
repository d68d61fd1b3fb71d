package dev.jepd.engine.model;

/** A checkpoint that does not match its architecture; the message lists every problem found. */
public final class WeightLoadException extends RuntimeException {
    public WeightLoadException(String message) {
        super(message);
    }
}
