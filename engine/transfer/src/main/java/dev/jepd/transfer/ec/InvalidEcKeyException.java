package dev.jepd.transfer.ec;

/**
 * A client-supplied multimodal {@code uuid} that cannot be used as an EC key (it becomes a directory name). The HTTP
 * layer answers 400 with {@code param} set to the uuid's JSON path.
 */
public final class InvalidEcKeyException extends IllegalArgumentException {
    private final String uuid;

    public InvalidEcKeyException(String uuid, String reason) {
        super("invalid multimodal uuid " + quoted(uuid) + ": " + reason);
        this.uuid = uuid;
    }

    /** The rejected value as received (may be null). */
    public String uuid() {
        return uuid;
    }

    private static String quoted(String s) {
        if (s == null) {
            return "null";
        }
        // Keep the message one printable line even for hostile input.
        StringBuilder b = new StringBuilder("\"");
        int shown = Math.min(s.length(), 64);
        for (int i = 0; i < shown; i++) {
            char c = s.charAt(i);
            b.append(c >= 0x20 && c < 0x7F ? String.valueOf(c) : String.format("\\u%04x", (int) c));
        }
        return b.append(s.length() > shown ? "…\"" : "\"").toString();
    }
}
