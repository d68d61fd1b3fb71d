package dev.jepd.api;

import io.undertow.server.HttpServerExchange;
import io.undertow.server.protocol.http.HttpServerConnection;
import io.undertow.util.ImmediatePooledByteBuffer;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Whether the client of an exchange is still there while its answer is being computed. Undertow stops reading a
 * connection once a request is parsed, so a client that closes its socket during a long non-streamed answer goes
 * unnoticed until the answer is written. {@link #gone} asks the socket itself: a non-blocking read returns -1 (or
 * fails) once the peer has closed. Bytes that arrive instead (a pipelined next request) are handed back to
 * Undertow untouched.
 */
public final class ClientConnection {
    private ClientConnection() {}

    /** True when the peer has closed (or reset) the connection; never blocks. Call from the exchange's worker. */
    public static boolean gone(HttpServerExchange ex) {
        if (!ex.getConnection().isOpen()) {
            return true;
        }
        if (!(ex.getConnection() instanceof HttpServerConnection c) || c.getExtraBytes() != null) {
            return false; // not HTTP/1 (no probe), or a pipelined request is already buffered: the client is there
        }
        ByteBuffer one = ByteBuffer.allocate(1);
        try {
            // The socket's own conduit: the channel's current one is the request body's, which says -1 at its end.
            int n = c.getOriginalSourceConduit().read(one);
            if (n < 0) {
                return true;
            }
            if (n > 0) {
                one.flip();
                c.ungetRequestBytes(new ImmediatePooledByteBuffer(one));
            }
            return false;
        } catch (IOException e) {
            return true;
        }
    }
}
