package dev.jepd.proxy.upstream;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpConnectTimeoutException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import javax.net.ssl.SSLSocketFactory;

/**
 * Idle keep-alive connections per node, most recently used first (so a burst reuses warm connections and the
 * rest age out). A connection idle longer than {@link #KEEP_ALIVE} is closed instead of reused: uvicorn closes its
 * side after 5 s, and a request must not be written into a connection the node is closing.
 */
final class ConnectionPool implements AutoCloseable {
    static final Duration KEEP_ALIVE = Duration.ofSeconds(4);
    /** Idle connections kept per node; more are closed when they come back. */
    private static final int MAX_IDLE = 256;

    private final Map<String, ConcurrentLinkedDeque<Http1Connection>> idle = new ConcurrentHashMap<>();
    private final Map<String, Http1Connection.Target> targets = new ConcurrentHashMap<>();
    private final Duration connectTimeout;
    private volatile boolean closed;

    ConnectionPool(Duration connectTimeout) {
        this.connectTimeout = connectTimeout;
    }

    Http1Connection.Target target(Node node) {
        return targets.computeIfAbsent(node.url(), u -> {
            URI uri = URI.create(u);
            boolean tls = "https".equalsIgnoreCase(uri.getScheme());
            int port = uri.getPort() > 0 ? uri.getPort() : tls ? 443 : 80;
            String prefix = uri.getRawPath() == null ? "" : uri.getRawPath();
            String host = uri.getHost();
            String hostHeader = (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
            return new Http1Connection.Target(host, port, tls, prefix, hostHeader);
        });
    }

    /** An idle connection to {@code node} if a fresh enough one is there, else null. */
    Http1Connection idle(Node node) {
        var deque = idle.get(node.url());
        if (deque == null) {
            return null;
        }
        long now = System.nanoTime();
        for (Http1Connection c; (c = deque.pollFirst()) != null; ) {
            if (now - c.idleSinceNanos < KEEP_ALIVE.toNanos()) {
                return c;
            }
            c.close();
        }
        return null;
    }

    /** A new connection, within the connect time-out. */
    Http1Connection open(Node node) throws IOException {
        Http1Connection.Target t = target(node);
        Socket s = t.tls() ? SSLSocketFactory.getDefault().createSocket() : new Socket();
        try {
            s.connect(new InetSocketAddress(t.host(), t.port()), (int) Math.max(1, connectTimeout.toMillis()));
        } catch (SocketTimeoutException e) {
            s.close();
            throw new HttpConnectTimeoutException("no connection to " + node.url() + " within the connect time-out");
        } catch (IOException e) {
            s.close();
            throw e;
        }
        return new Http1Connection(t, s);
    }

    /** Takes back a connection whose last answer was read to its end. */
    void release(Http1Connection c, Node node) {
        if (closed) {
            c.close();
            return;
        }
        var deque = idle.computeIfAbsent(node.url(), k -> new ConcurrentLinkedDeque<>());
        if (deque.size() >= MAX_IDLE) {
            c.close();
            return;
        }
        c.reused = true;
        c.idleSinceNanos = System.nanoTime();
        deque.addFirst(c);
    }

    @Override
    public void close() {
        closed = true;
        for (var deque : idle.values()) {
            for (Http1Connection c; (c = deque.pollFirst()) != null; ) {
                c.close();
            }
        }
    }
}
