package dev.jepd.proxy.upstream;

import java.io.BufferedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * One HTTP/1.1 connection to a node, used by one request at a time and kept alive between requests
 * ({@link ConnectionPool}). It writes a request in one buffered write and reads the answer's head and body
 * straight from the socket on the calling thread: no selector thread, no queue, no hand-off per chunk.
 *
 * <p>Reads go through the connection's own buffer ({@code buf[pos, lim)}), filled by one {@code read} of the
 * socket at a time: the head is split into lines there without a call per byte, and what is left unread is known
 * without asking the kernel ({@link #buffered()}).
 */
final class Http1Connection implements AutoCloseable {
    private static final int BUFFER = 16 * 1024;
    private static final int MAX_HEAD = 64 * 1024;

    final Target target;
    private final Socket socket;
    private final InputStream in; // the socket's own stream: each read is one read of the socket
    private final OutputStream out;
    private final byte[] buf = new byte[BUFFER];
    private int pos;
    private int lim;
    private boolean eof;
    /** The socket's read time-out as last set, so that an unchanged one costs nothing. */
    private int soTimeout = -1;
    /** Whether this connection served a request before (a failure before any answer byte is then retried). */
    boolean reused;

    long idleSinceNanos;

    Http1Connection(Target target, Socket socket) throws IOException {
        this.target = target;
        this.socket = socket;
        socket.setTcpNoDelay(true);
        this.in = socket.getInputStream();
        this.out = new BufferedOutputStream(socket.getOutputStream(), BUFFER);
    }

    /** Where a node's requests go: host, port, TLS, and the path prefix of its base URL. */
    record Target(String host, int port, boolean tls, String prefix, String hostHeader) {}

    /** The status line and the headers the proxy needs. */
    record Head(int status, String contentType, long contentLength, boolean chunked, boolean close) {}

    void timeout(long millis) throws SocketException {
        int t = (int) Math.max(1, Math.min(Integer.MAX_VALUE, millis));
        if (t != soTimeout) {
            socket.setSoTimeout(t);
            soTimeout = t;
        }
    }

    /**
     * Waits up to {@code limitMillis} for the next byte from the node without reading it, looking at the client
     * every {@link ClientWatch#PROBE_MILLIS} meanwhile (a byte already buffered returns at once). Throws
     * {@link SocketTimeoutException} past the limit and {@link ClientWatch.Gone} when the client left; the reads
     * after it run under {@code limitMillis} again.
     */
    void awaitReadable(long limitMillis, ClientWatch watch) throws IOException {
        if (pos < lim || eof || watch == ClientWatch.NONE) {
            return; // bytes are here, or the read itself waits, under the limit
        }
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(limitMillis);
        try {
            while (true) {
                long left = java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    throw new SocketTimeoutException("nothing from the node within " + limitMillis + " ms");
                }
                timeout(Math.min(ClientWatch.PROBE_MILLIS, left));
                try {
                    fill(); // the end too: the caller's read sees it
                    return;
                } catch (SocketTimeoutException e) {
                    if (watch.check()) {
                        throw new ClientWatch.Gone();
                    }
                } catch (IOException e) {
                    watch.throwIfCancelled(); // cut by the watch from another thread
                    throw e;
                }
            }
        } finally {
            if (socket.isClosed()) {
                watch.throwIfCancelled();
            } else {
                timeout(limitMillis);
            }
        }
    }

    /**
     * One read of the socket into the empty buffer; false at the end of the stream. A time-out leaves the
     * buffer as it was.
     */
    private boolean fill() throws IOException {
        if (eof) {
            return false;
        }
        int n = in.read(buf, 0, buf.length);
        if (n < 0) {
            eof = true;
            return false;
        }
        pos = 0;
        lim = n;
        return true;
    }

    /** Up to {@code len} bytes: the buffered ones, else one read of the socket; -1 at the end of the stream. */
    private int read(byte[] b, int off, int len) throws IOException {
        if (pos == lim && !fill()) {
            return -1;
        }
        int n = Math.min(len, lim - pos);
        System.arraycopy(buf, pos, b, off, n);
        pos += n;
        return n;
    }

    /** Writes one request: {@code body} null for a GET. */
    void send(String method, String path, Map<String, String> headers, byte[] body) throws IOException {
        StringBuilder h = new StringBuilder(256);
        h.append(method)
                .append(' ')
                .append(target.prefix())
                .append(path)
                .append(" HTTP/1.1\r\nHost: ")
                .append(target.hostHeader())
                .append("\r\n");
        if (body != null) {
            h.append("Content-Type: application/json\r\nContent-Length: ")
                    .append(body.length)
                    .append("\r\n");
        }
        headers.forEach((k, v) -> h.append(k).append(": ").append(v).append("\r\n"));
        h.append("\r\n");
        out.write(h.toString().getBytes(StandardCharsets.ISO_8859_1));
        if (body != null) {
            out.write(body);
        }
        out.flush();
    }

    /** Reads the answer's head (skipping 1xx); {@link EOFException} when the node closed before a byte. */
    Head readHead() throws IOException {
        while (true) {
            String status = line(true);
            if (!status.startsWith("HTTP/1.") || status.length() < 12) {
                throw new IOException("not an HTTP/1.x status line: " + status);
            }
            int code = Integer.parseInt(status.substring(9, 12));
            boolean http10 = status.startsWith("HTTP/1.0");
            String type = null;
            long length = -1;
            boolean chunked = false;
            boolean close = http10;
            int total = 0;
            for (String l; !(l = line(false)).isEmpty(); ) {
                total += l.length();
                if (total > MAX_HEAD) {
                    throw new IOException("answer head larger than " + MAX_HEAD + " bytes");
                }
                int colon = l.indexOf(':');
                if (colon <= 0) {
                    continue;
                }
                String name = l.substring(0, colon).trim();
                String value = l.substring(colon + 1).trim();
                if (name.equalsIgnoreCase("Content-Type")) {
                    type = value;
                } else if (name.equalsIgnoreCase("Content-Length")) {
                    length = Long.parseLong(value);
                } else if (name.equalsIgnoreCase("Transfer-Encoding")) {
                    chunked = value.toLowerCase(java.util.Locale.ROOT).contains("chunked");
                } else if (name.equalsIgnoreCase("Connection")) {
                    String v = value.toLowerCase(java.util.Locale.ROOT);
                    close = v.contains("close") || (http10 && !v.contains("keep-alive"));
                }
            }
            if (code >= 100 && code < 200) {
                continue;
            }
            return new Head(code, type, chunked ? -1 : length, chunked, close);
        }
    }

    /** The body of an answer with this head, read as it arrives. */
    Body body(Head head, String method) {
        boolean none = method.equals("HEAD") || head.status() == 204 || head.status() == 304;
        return new Body(this, none ? 0 : head.contentLength(), head.chunked() && !none, head.close());
    }

    /** Bytes already received and not read yet: when none, what was written so far should be flushed. */
    int buffered() {
        return lim - pos;
    }

    /** The next line of the head, without its CRLF (or LF); {@link EOFException} when the node closed. */
    private String line(boolean first) throws IOException {
        byte[] spill = null; // a line split between two reads of the socket
        int spilled = 0;
        while (true) {
            for (int i = pos; i < lim; i++) {
                if (buf[i] != '\n') {
                    continue;
                }
                byte[] from = buf;
                int start = pos;
                int end = i;
                if (spill != null) {
                    spill = append(spill, spilled, buf, pos, i - pos);
                    spilled += i - pos;
                    from = spill;
                    start = 0;
                    end = spilled;
                }
                pos = i + 1;
                if (end > start && from[end - 1] == '\r') {
                    end--;
                }
                return new String(from, start, end - start, StandardCharsets.ISO_8859_1);
            }
            int n = lim - pos;
            if (spilled + n > MAX_HEAD) {
                throw new IOException("answer head line too long");
            }
            if (n > 0) {
                spill = append(spill == null ? new byte[Math.max(64, n)] : spill, spilled, buf, pos, n);
                spilled += n;
                pos = lim;
            }
            if (!fill()) {
                if (first && spilled == 0) {
                    throw new EOFException("the node closed the connection before answering");
                }
                throw new EOFException("the node closed the connection in the answer head");
            }
        }
    }

    private static byte[] append(byte[] to, int used, byte[] from, int off, int n) {
        if (used + n > to.length) {
            to = java.util.Arrays.copyOf(to, Math.max(used + n, 2 * to.length));
        }
        System.arraycopy(from, off, to, used, n);
        return to;
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    /**
     * An answer body: {@code length} bytes, chunked, or (neither) up to the close. {@link #complete()} says whether
     * it was read to its end, so that the connection can serve the next request.
     */
    static final class Body {
        private final Http1Connection conn;
        private final boolean chunked;
        private final boolean closeAfter;
        private long remaining; // bytes left in the body (length) or in the current chunk (chunked); -1: to the close
        private boolean done;

        Body(Http1Connection conn, long length, boolean chunked, boolean closeAfter) {
            this.conn = conn;
            this.chunked = chunked;
            this.closeAfter = closeAfter;
            this.remaining = chunked ? 0 : length;
            this.done = !chunked && length == 0;
        }

        /** Reads what is there (blocking for at least one byte); -1 at the end. */
        int read(byte[] buf, int off, int len) throws IOException {
            if (done) {
                return -1;
            }
            if (chunked && remaining == 0) {
                String size = conn.line(false);
                int semi = size.indexOf(';');
                remaining = Long.parseLong((semi >= 0 ? size.substring(0, semi) : size).trim(), 16);
                if (remaining == 0) {
                    while (!conn.line(false).isEmpty()) {
                        // trailers: none used
                    }
                    done = true;
                    return -1;
                }
            }
            int want = remaining < 0 ? len : (int) Math.min(len, remaining);
            int n = conn.read(buf, off, want);
            if (n < 0) {
                if (remaining < 0) {
                    done = true;
                    return -1;
                }
                throw new EOFException("the node closed the connection in the middle of the answer");
            }
            if (remaining > 0) {
                remaining -= n;
                if (chunked && remaining == 0) {
                    conn.line(false); // the CRLF after the chunk
                } else if (!chunked && remaining == 0) {
                    done = true;
                }
            }
            return n;
        }

        /** The whole body, failing past {@code max} bytes. */
        byte[] readAll(int max) throws IOException {
            if (!chunked && remaining >= 0) { // a Content-Length: read into an array of that size
                if (remaining > max) {
                    throw new IOException("answer larger than " + max + " bytes");
                }
                byte[] all = new byte[(int) remaining];
                for (int at = 0; at < all.length; ) {
                    int n = read(all, at, all.length - at);
                    if (n < 0) {
                        throw new EOFException("the node closed the connection in the middle of the answer");
                    }
                    at += n;
                }
                return all;
            }
            java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream(256);
            byte[] chunk = new byte[BUFFER];
            for (int n; (n = read(chunk, 0, chunk.length)) >= 0; ) {
                all.write(chunk, 0, n);
                if (all.size() > max) {
                    throw new IOException("answer larger than " + max + " bytes");
                }
            }
            return all.toByteArray();
        }

        /** Whether the end of the body has been read. */
        boolean atEnd() {
            return done;
        }

        /** Read to its end on a connection that stays open: the connection may serve another request. */
        boolean complete() {
            return done && !closeAfter && remaining >= 0;
        }
    }
}
