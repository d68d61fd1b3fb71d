package dev.jepd.engine.sampling;

/** A sampling parameter out of range; {@link #param()} is its OpenAI name, for the error's {@code param}. */
public final class InvalidSamplingParameterException extends IllegalArgumentException {
    private final String param;

    public InvalidSamplingParameterException(String param, String message) {
        super(message);
        this.param = param;
    }

    public String param() {
        return param;
    }
}
