package dev.jepd.tensor.torch;

/**
 * A libtorch call returned an error code. The C shim reports the reason (the C++ exception's text) on
 * stderr itself; this message names the call and its operands.
 */
public final class TorchException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public TorchException(String message) {
        super(message);
    }
}
