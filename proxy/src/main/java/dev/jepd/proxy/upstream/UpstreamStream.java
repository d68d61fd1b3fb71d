package dev.jepd.proxy.upstream;

import dev.jepd.api.ApiException;
import dev.jepd.api.Sse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * A decode node's 2xx streaming answer whose body has not been read yet. {@link #relayTo} copies its bytes
 * to the client as they arrive, unparsed and unchanged, flushing after every read. If the node fails or
 * stays silent for longer than the idle limit, the client's stream ends with {@code data: {"error":…}}
 * and {@code data: [DONE]} (DESIGN §4.5); if the client goes away, the upstream request is cancelled.
 */
public final class UpstreamStream implements AutoCloseable {
    private static final byte[] DONE_TAIL = Sse.DONE;
    private static final byte[] EVENT_END = "\n\n".getBytes(StandardCharsets.US_ASCII);

    private final Node node;
    private final int status;
    private final String contentType;
    private final BodyRelay relay;
    private final Duration idleLimit;
    /** The first item, read before the stream was handed out (so a node that fails before it can be retried). */
    private Object first;

    UpstreamStream(Node node, int status, String contentType, BodyRelay relay, Duration idleLimit, Object first) {
        this.node = node;
        this.status = status;
        this.contentType = contentType;
        this.relay = relay;
        this.idleLimit = idleLimit;
        this.first = first;
    }

    public Node node() {
        return node;
    }

    public int status() {
        return status;
    }

    /** The node's Content-Type, or null if it sent none. */
    public String contentType() {
        return contentType;
    }

    /**
     * Copies the body to {@code out} until the node ends it. Upstream failures end the client's stream
     * with an error event and return normally; an {@link IOException} means the client is gone (the
     * upstream request has been cancelled by then).
     */
    public void relayTo(OutputStream out) throws IOException {
        Tail tail = new Tail();
        byte[] scratch = new byte[16 * 1024];
        long idleNanos = idleLimit.toNanos();
        try {
            while (true) {
                Object item = first != null ? first : relay.poll(idleNanos);
                first = null;
                if (item == null) {
                    relay.cancel();
                    fail(
                            out,
                            tail,
                            new ApiException(
                                    504, node + " sent nothing for " + UpstreamFailure.seconds(idleLimit), null));
                    return;
                }
                if (item == BodyRelay.END) {
                    return;
                }
                if (item instanceof Throwable t) {
                    fail(out, tail, UpstreamFailure.transport(node, t, idleLimit));
                    return;
                }
                @SuppressWarnings("unchecked")
                List<ByteBuffer> buffers = (List<ByteBuffer>) item;
                for (ByteBuffer b : buffers) {
                    tail.append(b.duplicate());
                    while (b.hasRemaining()) {
                        int n = Math.min(b.remaining(), scratch.length);
                        b.get(scratch, 0, n);
                        out.write(scratch, 0, n);
                    }
                }
                out.flush();
                relay.consumed();
            }
        } catch (InterruptedException e) {
            relay.cancel();
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while relaying " + node);
        } catch (IOException | RuntimeException e) {
            relay.cancel();
            throw e;
        }
    }

    /** Ends the client's stream with an error event, unless the node had already finished it. */
    private static void fail(OutputStream out, Tail tail, ApiException error) throws IOException {
        if (tail.endsWith(DONE_TAIL)) {
            return;
        }
        if (tail.count > 0 && !tail.endsWith(EVENT_END)) {
            out.write(EVENT_END); // close the event the node left half-written
        }
        out.write(Sse.event(error.body()));
        out.write(Sse.DONE);
        out.flush();
    }

    /** Reads a (non-2xx) body whole, up to {@code maxBytes}, within {@code limit}; used for error bodies. */
    static byte[] drain(BodyRelay relay, int maxBytes, Duration limit) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long deadline = System.nanoTime() + limit.toNanos();
        try {
            while (out.size() < maxBytes) {
                long left = deadline - System.nanoTime();
                Object item = left > 0 ? relay.poll(left) : null;
                if (item == null || item == BodyRelay.END || item instanceof Throwable) {
                    break;
                }
                @SuppressWarnings("unchecked")
                List<ByteBuffer> buffers = (List<ByteBuffer>) item;
                for (ByteBuffer b : buffers) {
                    byte[] bytes = new byte[b.remaining()];
                    b.get(bytes);
                    out.write(bytes, 0, bytes.length);
                }
                relay.consumed();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            relay.cancel();
        }
        byte[] all = out.toByteArray();
        return all.length > maxBytes ? Arrays.copyOf(all, maxBytes) : all;
    }

    @Override
    public void close() {
        relay.cancel();
    }

    /** The last bytes written, to tell whether the node had finished its stream or left an event open. */
    private static final class Tail {
        private final byte[] last = new byte[DONE_TAIL.length];
        private long count;

        void append(ByteBuffer b) {
            int skip = b.remaining() - last.length; // only the last bytes can matter
            if (skip > 0) {
                b.position(b.position() + skip);
                count += skip;
            }
            while (b.hasRemaining()) {
                last[(int) (count++ % last.length)] = b.get();
            }
        }

        boolean endsWith(byte[] suffix) {
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
}
