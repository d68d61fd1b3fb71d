package dev.jepd.proxy.upstream;

import dev.jepd.api.ApiException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.time.Duration;

/**
 * A decode node's 2xx streaming answer whose body has not been relayed yet. {@link #relayTo} copies its bytes
 * to the client as they arrive, unparsed and unchanged, on the calling thread: one read from the node's socket,
 * one write to the client, and a flush whenever no more bytes are waiting (so every chunk goes out when it
 * arrives, and chunks that arrived together go out together). If the node fails or stays silent for longer than
 * the idle limit, the client's stream ends with {@code data: {"error":…}} and {@code data: [DONE]} (DESIGN §4.5);
 * if the client goes away, the node's connection is closed, which aborts the request there.
 */
public final class UpstreamStream implements AutoCloseable {

    private final Node node;
    private final int status;
    private final String contentType;
    private final Http1Connection connection;
    private final Http1Connection.Body body;
    private final ConnectionPool pool;
    private final Duration idleLimit;
    private final byte[] buffer;
    private final ClientWatch watch;
    private int firstLength;
    private boolean finished;
    private boolean closed;

    UpstreamStream(
            Node node,
            int status,
            String contentType,
            Http1Connection connection,
            Http1Connection.Body body,
            ConnectionPool pool,
            Duration idleLimit,
            byte[] first,
            int firstLength,
            ClientWatch watch) {
        this.node = node;
        this.status = status;
        this.contentType = contentType;
        this.connection = connection;
        this.body = body;
        this.pool = pool;
        this.idleLimit = idleLimit;
        this.buffer = first;
        this.firstLength = firstLength;
        this.watch = watch;
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
        SseTail tail = new SseTail();
        int n = firstLength;
        firstLength = 0;
        try {
            while (true) {
                if (n > 0) {
                    tail.append(buffer, 0, n);
                    out.write(buffer, 0, n);
                    // Nothing more arrived yet: send what there is. (At the body's end the server's own end of the
                    // response sends it, together with the last chunk.)
                    if (!body.atEnd() && connection.buffered() == 0) {
                        out.flush();
                    }
                }
                try {
                    // While the node is silent, look at the client now and then: one that left is seen before the
                    // next write fails (the wait costs nothing more when bytes come within the probe's beat).
                    if (!body.atEnd()) {
                        connection.awaitReadable(idleLimit.toMillis(), watch);
                    }
                    n = body.read(buffer, 0, buffer.length);
                } catch (ClientWatch.Gone e) {
                    throw new IOException("the client closed the connection", e);
                } catch (SocketTimeoutException e) {
                    fail(
                            out,
                            tail,
                            new ApiException(
                                    504, node + " sent nothing for " + UpstreamFailure.seconds(idleLimit), null));
                    return;
                } catch (IOException e) {
                    fail(out, tail, UpstreamFailure.transport(node, e, idleLimit));
                    return;
                }
                if (n < 0) {
                    finished = true;
                    return;
                }
            }
        } finally {
            watch.detach(connection); // before the connection may go back to the pool
            close();
        }
    }

    /** Ends the client's stream with an error event, unless the node had already finished it. */
    private static void fail(OutputStream out, SseTail tail, ApiException error) throws IOException {
        out.write(tail.ending(error));
        out.flush();
    }

    /** Gives the connection back when the body was read to its end, else closes it (aborting the request there). */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (finished && body.complete()) {
            pool.release(connection, node);
        } else {
            connection.close();
        }
    }
}
