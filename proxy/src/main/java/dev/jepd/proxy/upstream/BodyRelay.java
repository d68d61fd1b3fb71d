package dev.jepd.proxy.upstream;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Hands an upstream body from the HTTP client's threads to the one thread that writes it to the client:
 * a queue of the buffers as they arrived, bounded by demand (at most {@link #AHEAD} reads ahead of the
 * writer, so a slow client slows the upstream instead of filling memory). The writer polls with a time-out,
 * which is how an upstream that goes silent is noticed.
 */
final class BodyRelay implements Flow.Subscriber<List<ByteBuffer>> {
    private static final int AHEAD = 16;

    /** Marks the end of the body in the queue. */
    static final Object END = new Object();

    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private Flow.Subscription subscription; // guarded by this
    private boolean cancelled; // guarded by this

    @Override
    public void onSubscribe(Flow.Subscription s) {
        boolean cancelNow;
        synchronized (this) {
            subscription = s;
            cancelNow = cancelled;
        }
        if (cancelNow) {
            s.cancel();
        } else {
            s.request(AHEAD);
        }
    }

    @Override
    public void onNext(List<ByteBuffer> item) {
        queue.add(item);
    }

    @Override
    public void onError(Throwable t) {
        queue.add(t);
    }

    @Override
    public void onComplete() {
        queue.add(END);
    }

    /**
     * The next item: a {@code List<ByteBuffer>}, {@link #END} or the upstream's {@link Throwable}; null if
     * nothing came within the time-out.
     */
    Object poll(long nanos) throws InterruptedException {
        return queue.poll(nanos, TimeUnit.NANOSECONDS);
    }

    /** The writer consumed one item: let the client read one more. */
    void consumed() {
        Flow.Subscription s;
        synchronized (this) {
            s = cancelled ? null : subscription;
        }
        if (s != null) {
            s.request(1);
        }
    }

    /** Stops reading; the HTTP client then closes the upstream connection, which aborts the request there. */
    void cancel() {
        Flow.Subscription s;
        synchronized (this) {
            cancelled = true;
            s = subscription;
        }
        if (s != null) {
            s.cancel();
        }
    }
}
