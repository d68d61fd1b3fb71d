package dev.jepd.engine.connector;

/** An EC entry could not be written; the message names the path and the cause. */
public final class EcStoreException extends RuntimeException {
    public EcStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
