package dev.jepd.proxy.upstream;

import java.util.List;

/** The nodes of one role (encode, prefill or decode) and the router that picks one of them per request. */
public record Cluster(String name, List<Node> nodes, Router router) {
    public Cluster {
        nodes = List.copyOf(nodes);
    }

    public static Cluster of(String name, List<Node> nodes, Routing routing) {
        return new Cluster(name, nodes, nodes.isEmpty() ? null : routing.router(nodes));
    }

    public boolean isEmpty() {
        return nodes.isEmpty();
    }
}
