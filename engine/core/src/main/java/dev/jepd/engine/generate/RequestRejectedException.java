package dev.jepd.engine.generate;

/** A request that can never run here (too long for the model or for the whole KV cache): a 400, not a wait. */
public final class RequestRejectedException extends RuntimeException {
    private final String param;

    public RequestRejectedException(String message, String param) {
        super(message);
        this.param = param;
    }

    /** The offending request parameter, for the OpenAI error's {@code param}. */
    public String param() {
        return param;
    }
}
