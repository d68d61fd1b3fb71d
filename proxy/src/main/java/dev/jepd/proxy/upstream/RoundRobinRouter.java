package dev.jepd.proxy.upstream;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/** Cycles through the nodes; one atomic counter, so concurrent requests still spread evenly. */
public final class RoundRobinRouter implements Router {
    private final List<Node> nodes;
    private final AtomicLong next = new AtomicLong();

    public RoundRobinRouter(List<Node> nodes) {
        if (nodes.isEmpty()) {
            throw new IllegalArgumentException("a router needs at least one node");
        }
        this.nodes = List.copyOf(nodes);
    }

    @Override
    public boolean usesCost() {
        return false;
    }

    @Override
    public Lease acquire(long cost) {
        Node node = nodes.get((int) Math.floorMod(next.getAndIncrement(), (long) nodes.size()));
        return new Lease() {
            @Override
            public Node node() {
                return node;
            }

            @Override
            public void close() {}
        };
    }
}
