package dev.jepd.transfer.channel;

/** The peer could not be reached, closed the connection early, or did not answer within the timeout. */
public final class ChannelIoException extends RuntimeException {
    private final boolean timedOut;

    ChannelIoException(String message, boolean timedOut, Throwable cause) {
        super(message, cause);
        this.timedOut = timedOut;
    }

    /** Whether a connect or read timeout ran out (rather than a refused or dropped connection). */
    public boolean timedOut() {
        return timedOut;
    }
}
