package dev.jepd.proxy.upstream;

import dev.jepd.api.ApiException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * Whether the client of one proxied request is still there, and the upstream connections that request has open
 * now. The thread that serves the request (its route's worker) asks its {@code probe} (the client's socket, see
 * {@code ClientConnection.gone}) whenever a wait for an upstream has lasted {@link #PROBE_MILLIS}; once the client
 * is gone every attached connection is closed at once, so that the encoders, the prefill and the decode node see
 * their client (the proxy) disconnect and abort. Other threads of the request (encoder calls beside it) only read
 * the flag: the probe reads the client's socket, which belongs to the worker.
 */
public final class ClientWatch {
    /** How long a wait for an upstream lasts between two looks at the client (the nodes use the same beat). */
    public static final long PROBE_MILLIS = 100;
    /** No client to watch: health probes, profile calls, tests. */
    public static final ClientWatch NONE = new ClientWatch(() -> false, null);

    private final BooleanSupplier probe;
    private final Thread owner;
    private volatile boolean gone;
    private List<Http1Connection> open; // guarded by this; most requests hold one connection at a time

    private ClientWatch(BooleanSupplier probe, Thread owner) {
        this.probe = probe;
        this.owner = owner;
    }

    /** Watches the client for the calling thread, the one that serves the request. */
    public static ClientWatch of(BooleanSupplier probe) {
        return new ClientWatch(probe, Thread.currentThread());
    }

    /** Whether the client is gone; asks the socket itself only on the request's own thread. */
    public boolean check() {
        if (gone) {
            return true;
        }
        if (owner != null && Thread.currentThread() == owner && probe.getAsBoolean()) {
            cancel();
        }
        return gone;
    }

    /** Whether the client was seen gone (never probes). */
    public boolean cancelled() {
        return gone;
    }

    /** The client is gone: every upstream call of the request is cut now. */
    public void cancel() {
        List<Http1Connection> toClose;
        synchronized (this) {
            if (gone) {
                return;
            }
            gone = true;
            toClose = open;
            open = null;
        }
        if (toClose != null) {
            toClose.forEach(Http1Connection::close);
        }
    }

    /** Throws {@link Gone} if the client was seen gone. */
    public void throwIfCancelled() {
        if (gone) {
            throw new Gone();
        }
    }

    void attach(Http1Connection c) {
        if (this == NONE) {
            return;
        }
        synchronized (this) {
            if (!gone) {
                if (open == null) {
                    open = new ArrayList<>(2);
                }
                open.add(c);
                return;
            }
        }
        c.close();
        throw new Gone();
    }

    void detach(Http1Connection c) {
        if (this == NONE) {
            return;
        }
        synchronized (this) {
            if (open != null) {
                open.remove(c);
            }
        }
    }

    /**
     * The client closed its connection: the request ends here, nothing is retried, no node is blamed. 499 is
     * nginx's status for it; nobody reads it.
     */
    public static final class Gone extends ApiException {
        public Gone() {
            super(499, "ClientClosedRequest", "the client closed the connection", null);
        }
    }
}
