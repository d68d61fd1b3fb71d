package dev.jepd.proxy.upstream;

/**
 * Picks the node for one upstream request. The returned {@link Lease} is closed when that request ends
 * (answered, failed or cancelled), so that a load-aware router knows what is still in flight.
 */
public interface Router {
    /** Whether {@link #acquire} looks at the cost; when not, callers may skip estimating it. */
    boolean usesCost();

    /** The node for a request of estimated {@code cost} (any unit, the same for every call). */
    Lease acquire(long cost);

    /** One routed request; closing it twice is harmless. */
    interface Lease extends AutoCloseable {
        Node node();

        @Override
        void close();
    }
}
