package dev.jepd.api;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.xnio.StreamConnection;
import org.xnio.conduits.AbstractStreamSinkConduit;
import org.xnio.conduits.Conduits;
import org.xnio.conduits.StreamSinkConduit;

/**
 * Undertow answers a request it cannot parse (not HTTP, bad framing, a head over the size or header-count limit)
 * itself, before any handler runs, with a fixed {@code 400} and an empty body. This conduit, under every
 * connection, replaces exactly that answer with the same status and an OpenAI error body, so that every 4xx a
 * client sees is JSON. Any other bytes pass through untouched.
 */
final class BadRequestAsJson extends AbstractStreamSinkConduit<StreamSinkConduit> {
    /** Undertow 2.4's fixed answer ({@code HttpReadListener.sendBadRequestAndClose}). */
    private static final byte[] UNDERTOW_400 =
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII);

    private final byte[] replacementBody;
    private ByteBuffer pending; // the replacement being written, or null

    private BadRequestAsJson(StreamSinkConduit next, byte[] replacementBody) {
        super(next);
        this.replacementBody = replacementBody;
    }

    static void install(StreamConnection connection, byte[] jsonBody) {
        var sink = connection.getSinkChannel();
        sink.setConduit(new BadRequestAsJson(sink.getConduit(), jsonBody));
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        if (pending == null && !isUndertow400(src)) {
            return next.write(src);
        }
        if (pending == null) {
            byte[] head = ("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: "
                            + replacementBody.length + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII);
            pending = ByteBuffer.allocate(head.length + replacementBody.length);
            pending.put(head).put(replacementBody).flip();
        }
        next.write(pending);
        if (pending.hasRemaining()) {
            return 0; // the original stays unconsumed until the whole replacement is out
        }
        pending = null;
        int n = src.remaining();
        src.position(src.limit());
        return n;
    }

    @Override
    public int writeFinal(ByteBuffer src) throws IOException {
        return Conduits.writeFinalBasic(this, src);
    }

    private static boolean isUndertow400(ByteBuffer src) {
        return src.remaining() == UNDERTOW_400.length && src.equals(ByteBuffer.wrap(UNDERTOW_400));
    }
}
