package dev.jepd.engine.connector;

/** A KV transfer failed: the peer is unreachable, timed out, refused the read or sent something malformed. */
public class KvTransferException extends RuntimeException {
    public KvTransferException(String message) {
        super(message);
    }

    public KvTransferException(String message, Throwable cause) {
        super(message, cause);
    }
}
