package dev.jepd.proxy.upstream;

import dev.jepd.api.ApiException;
import dev.jepd.api.Sse;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The last bytes relayed of a node's stream, to end it well when the node fails mid-stream (DESIGN §4.5): nothing
 * more if the node had already sent {@code data: [DONE]}, else the event it left half-written closed, an error
 * event and {@code [DONE]}. Both relays (the blocking one and the IO thread's) end their streams with it.
 */
public final class SseTail {
    private static final byte[] DONE = Sse.DONE;
    private static final byte[] EVENT_END = "\n\n".getBytes(StandardCharsets.US_ASCII);

    private final byte[] last = new byte[DONE.length];
    private long count;

    /** Notes bytes relayed to the client. */
    public void append(byte[] b, int off, int n) {
        int from = Math.max(off, off + n - last.length); // only the last bytes can matter
        count += from - off;
        for (int i = from; i < off + n; i++) {
            last[(int) (count++ % last.length)] = b[i];
        }
    }

    /** The bytes that end the client's stream after {@code error}: none when the node had finished it. */
    public byte[] ending(ApiException error) {
        if (endsWith(DONE)) {
            return new byte[0];
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (count > 0 && !endsWith(EVENT_END)) {
            out.writeBytes(EVENT_END); // close the event the node left half-written
        }
        out.writeBytes(Sse.event(error.body()));
        out.writeBytes(Sse.DONE);
        return out.toByteArray();
    }

    private boolean endsWith(byte[] suffix) {
        if (count < suffix.length) {
            return false;
        }
        for (int i = 0; i < suffix.length; i++) {
            long at = count - suffix.length + i;
            if (last[(int) (at % last.length)] != suffix[i]) {
                return false;
            }
        }
        return true;
    }
}
