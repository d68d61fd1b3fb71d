package dev.jepd.transfer.nixl;

/** A payload could not be exported or pulled: no room, the peer's metadata would not load, the read failed or timed out. */
public final class NixlTransferException extends RuntimeException {
    public NixlTransferException(String message) {
        super(message);
    }

    public NixlTransferException(String message, Throwable cause) {
        super(message, cause);
    }
}
