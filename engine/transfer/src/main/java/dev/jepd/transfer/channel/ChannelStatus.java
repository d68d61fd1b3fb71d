package dev.jepd.transfer.channel;

/** The status byte of a reply. The codes are on the wire: never renumber them. */
public enum ChannelStatus {
    OK(0),
    /** Nothing held under that id (never, released or expired), or the request is for another engine. */
    NOT_FOUND(1),
    /** A malformed request, an unknown op, or one that does not match what is held. */
    REJECTED(2),
    /** The handler failed. */
    INTERNAL(3),
    /** The server knows the op but cannot serve it (STAGE without NIXL). */
    NOT_SUPPORTED(4);

    private final int code;

    ChannelStatus(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The status of {@code code}, or null when no status has that code. */
    public static ChannelStatus of(int code) {
        for (ChannelStatus s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        return null;
    }
}
