package dev.jepd.proxy.upstream;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The nodes of one role (encode, prefill or decode) as they are now: nodes can be added and removed while
 * requests run ({@code POST/DELETE /instances}, {@code --config} reloads), and each carries its health
 * ({@link Member}). {@link #acquire} picks among the healthy nodes a request has not tried yet, by the
 * cluster's {@link Routing}; it returns null when there is none, and the caller decides what that means
 * (encode: the PD node encodes itself; prefill: decode prefills itself; decode: try an evicted node).
 *
 * <p>The member list is copied on write: routing reads one immutable snapshot without a lock, and a removed
 * node's requests in flight finish on it (their leases hold the member).
 */
public final class Cluster {
    private final String name;
    private final Routing routing;
    private volatile List<Member> members;
    private final AtomicLong next = new AtomicLong();
    /** EC key → the member URL that holds it (cache-affinity routing), the least recently used forgotten first. */
    private final java.util.LinkedHashMap<String, String> affinity = new java.util.LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<String, String> eldest) {
            return size() > AFFINITY_KEYS;
        }
    };

    private static final int AFFINITY_KEYS = 100_000;

    public Cluster(String name, List<Node> nodes, Routing routing) {
        this.name = name;
        this.routing = routing;
        List<Member> list = new ArrayList<>();
        for (Node n : nodes) {
            if (list.stream().noneMatch(m -> m.node().url().equals(n.url()))) {
                list.add(new Member(n));
            }
        }
        this.members = List.copyOf(list);
    }

    public static Cluster of(String name, List<Node> nodes, Routing routing) {
        return new Cluster(name, nodes, routing);
    }

    public String name() {
        return name;
    }

    public Routing routing() {
        return routing;
    }

    /** The members now (an immutable snapshot). */
    public List<Member> members() {
        return members;
    }

    public List<Node> nodes() {
        return members.stream().map(Member::node).toList();
    }

    public boolean isEmpty() {
        return members.isEmpty();
    }

    /** Whether {@link #acquire} looks at the cost; when not, callers may skip estimating it. */
    public boolean usesCost() {
        return routing != Routing.ROUND_ROBIN;
    }

    /** Under cache-affinity routing: {@code key} (an EC key) now lives on {@code node}. */
    public void remember(String key, Node node) {
        if (routing == Routing.CACHE_AFFINITY) {
            synchronized (affinity) {
                affinity.put(key, node.url());
            }
        }
    }

    /**
     * As {@link #acquire} (or, {@code any}, {@link #acquireAny}), but under cache-affinity routing the first of
     * {@code keys} remembered on a healthy member not tried yet picks that member.
     */
    public Lease acquire(long cost, Set<Node> tried, List<String> keys, boolean any) {
        if (routing == Routing.CACHE_AFFINITY && !keys.isEmpty()) {
            for (String key : keys) {
                String url;
                synchronized (affinity) {
                    url = affinity.get(key);
                }
                Member m = url == null ? null : find(url);
                if (m != null && m.healthy() && !tried.contains(m.node())) {
                    return new Lease(m, Math.max(1, cost));
                }
            }
        }
        return any ? acquireAny(cost, tried) : acquire(cost, tried);
    }

    /** Adds a node; false if a node with that URL is already a member. */
    public synchronized boolean add(Node node) {
        if (find(node.url()) != null) {
            return false;
        }
        List<Member> list = new ArrayList<>(members);
        list.add(new Member(node));
        members = List.copyOf(list);
        return true;
    }

    /** Removes a node (requests in flight on it finish); false if no member has that URL. */
    public synchronized boolean remove(String url) {
        Member m = find(url);
        if (m == null) {
            return false;
        }
        List<Member> list = new ArrayList<>(members);
        list.remove(m);
        members = List.copyOf(list);
        return true;
    }

    /** Makes the members exactly {@code nodes}, keeping the state of those that stay. */
    public synchronized void replaceWith(Collection<Node> nodes) {
        List<Member> list = new ArrayList<>();
        for (Node n : nodes) {
            Member kept = find(n.url());
            if (list.stream().noneMatch(m -> m.node().url().equals(n.url()))) {
                list.add(kept != null ? kept : new Member(n));
            }
        }
        members = List.copyOf(list);
    }

    public Member find(String url) {
        String u = new Node(name, url).url();
        for (Member m : members) {
            if (m.node().url().equals(u)) {
                return m;
            }
        }
        return null;
    }

    /** A healthy member not in {@code tried}, charged {@code cost}; null when there is none. */
    public Lease acquire(long cost, Set<Node> tried) {
        return pick(cost, tried, true);
    }

    /**
     * As {@link #acquire}, but when no healthy member is left, an evicted one not tried yet (its eviction
     * may be stale; trying it beats failing the request); null when every member has been tried.
     */
    public Lease acquireAny(long cost, Set<Node> tried) {
        Lease lease = pick(cost, tried, true);
        return lease != null ? lease : pick(cost, tried, false);
    }

    private Lease pick(long cost, Set<Node> tried, boolean healthyOnly) {
        List<Member> all = members;
        List<Member> candidates = new ArrayList<>(all.size());
        for (Member m : all) {
            if ((!healthyOnly || m.healthy()) && !tried.contains(m.node())) {
                candidates.add(m);
            }
        }
        if (candidates.isEmpty()) {
            return null;
        }
        long charge = Math.max(1, cost);
        int n = candidates.size();
        int start = (int) Math.floorMod(next.getAndIncrement(), (long) n);
        Member pick = candidates.get(start);
        if (routing != Routing.ROUND_ROBIN) {
            // Ties go to the rotating start, so that equal loads (an idle cluster) still spread.
            for (int k = 1; k < n; k++) {
                Member m = candidates.get((start + k) % n);
                if (m.inFlight() < pick.inFlight()) {
                    pick = m;
                }
            }
        }
        return new Lease(pick, charge);
    }

    @Override
    public String toString() {
        return name + " " + members;
    }
}
