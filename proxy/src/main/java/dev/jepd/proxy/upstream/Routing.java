package dev.jepd.proxy.upstream;

/** How a cluster picks a node: the value of {@code --routing}. */
public enum Routing {
    /** Each cluster cycles through its healthy nodes (vLLM's proxy does this for the encoders). */
    ROUND_ROBIN("round-robin"),
    /**
     * The node with the least estimated work in flight: image tokens for encoders, one per request for
     * prefill and decode nodes.
     */
    LEAST_LOADED("least-loaded"),
    /**
     * An item whose key was encoded recently goes to the encoder that encoded it, and a request to the decode
     * node that last served one of its items (where the EC is node-local, that node holds it); otherwise, and
     * when that node is evicted or was tried, least-loaded.
     */
    CACHE_AFFINITY("cache-affinity");

    private final String flag;

    Routing(String flag) {
        this.flag = flag;
    }

    public String flag() {
        return flag;
    }

    public static Routing parse(String text) {
        for (Routing r : values()) {
            if (r.flag.equalsIgnoreCase(text.strip()) || r.name().equalsIgnoreCase(text.strip())) {
                return r;
            }
        }
        throw new IllegalArgumentException(
                "unknown routing '" + text + "' (expected round-robin, least-loaded or cache-affinity)");
    }

    @Override
    public String toString() {
        return flag;
    }
}
