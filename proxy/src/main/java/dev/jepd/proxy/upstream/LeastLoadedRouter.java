package dev.jepd.proxy.upstream;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Picks the node with the least cost in flight and charges it until the lease closes. Ties go to the node
 * after the last one picked, so that equal loads (an idle cluster) still rotate. One lock: picking is a
 * scan over a handful of longs, far below the cost of the request it routes.
 */
public final class LeastLoadedRouter implements Router {
    private final List<Node> nodes;
    private final long[] inFlight; // guarded by this
    private int last = -1; // guarded by this

    public LeastLoadedRouter(List<Node> nodes) {
        if (nodes.isEmpty()) {
            throw new IllegalArgumentException("a router needs at least one node");
        }
        this.nodes = List.copyOf(nodes);
        this.inFlight = new long[nodes.size()];
    }

    @Override
    public boolean usesCost() {
        return true;
    }

    @Override
    public Lease acquire(long cost) {
        long charge = Math.max(1, cost);
        int pick;
        synchronized (this) {
            int n = inFlight.length;
            pick = -1;
            for (int k = 1; k <= n; k++) {
                int i = (last + k) % n;
                if (pick < 0 || inFlight[i] < inFlight[pick]) {
                    pick = i;
                }
            }
            inFlight[pick] += charge;
            last = pick;
        }
        return new ChargedLease(pick, charge);
    }

    /** The cost now in flight per node, in node order (for tests and logs). */
    public synchronized long[] inFlight() {
        return inFlight.clone();
    }

    private final class ChargedLease implements Lease {
        private final int index;
        private final long charge;
        private final AtomicBoolean closed = new AtomicBoolean();

        ChargedLease(int index, long charge) {
            this.index = index;
            this.charge = charge;
        }

        @Override
        public Node node() {
            return nodes.get(index);
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                synchronized (LeastLoadedRouter.this) {
                    inFlight[index] -= charge;
                }
            }
        }
    }
}
