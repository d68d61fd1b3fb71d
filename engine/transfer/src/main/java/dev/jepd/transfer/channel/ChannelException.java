package dev.jepd.transfer.channel;

/**
 * A request answered with an error frame. A handler throws it to choose the status its client sees; a client
 * throws it when the server refused, with the server's status and message.
 */
public class ChannelException extends RuntimeException {
    private final ChannelStatus status;

    public ChannelException(ChannelStatus status, String message) {
        super(message);
        if (status == ChannelStatus.OK) {
            throw new IllegalArgumentException("an error frame cannot have status OK");
        }
        this.status = status;
    }

    public ChannelStatus status() {
        return status;
    }
}
