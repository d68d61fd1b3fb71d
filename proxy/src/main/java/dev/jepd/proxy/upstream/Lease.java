package dev.jepd.proxy.upstream;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One routed upstream request: the member chosen and the cost charged to it until the request ends
 * (answered, failed or cancelled). Closing it twice is harmless.
 */
public final class Lease implements AutoCloseable {
    private final Member member;
    private final long cost;
    private final AtomicBoolean closed = new AtomicBoolean();

    Lease(Member member, long cost) {
        this.member = member;
        this.cost = cost;
        member.charge(cost);
    }

    public Member member() {
        return member;
    }

    public Node node() {
        return member.node();
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            member.charge(-cost);
        }
    }
}
