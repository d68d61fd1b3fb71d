package dev.jepd.proxy.upstream;

/**
 * A whole upstream answer as it came, whatever its status: what fan-outs and probes look at. {@code closing}: the
 * node said {@code Connection: close} (with a 503, that it is draining).
 */
public record Reply(int statusCode, String contentType, byte[] body, boolean closing) {
    public Reply(int statusCode, String contentType, byte[] body) {
        this(statusCode, contentType, body, false);
    }
}
