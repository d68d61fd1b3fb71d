package dev.jepd.tensor.torch;

/**
 * No usable libtorch: none found, or one that lacks the stable C ABI this backend calls. The message is one
 * line that says what was tried and what to do, fit to print at start-up as it is.
 */
public final class LibTorchUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public LibTorchUnavailableException(String message) {
        super(message);
    }

    public LibTorchUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
