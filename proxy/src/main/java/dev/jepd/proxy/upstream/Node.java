package dev.jepd.proxy.upstream;

import java.net.URI;
import java.util.Locale;

/**
 * One upstream server, as given on the command line: its role in the cluster (for messages) and its base
 * URL without a trailing slash, so that {@code url + "/v1/chat/completions"} is the endpoint.
 */
public record Node(String role, String url) {
    public Node {
        while (url.endsWith("/")) {
            url = url.substring(0, url.length() - 1);
        }
    }

    /**
     * Parses a base URL from a flag. Only {@code http(s)://host[:port][/prefix]} is accepted: anything
     * else would fail on the first request instead of at start-up.
     */
    public static Node parse(String role, String text) {
        String url = text.strip();
        URI uri;
        try {
            uri = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(role + " URL '" + text + "' is not a URL: " + e.getMessage(), e);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https") || uri.getHost() == null) {
            throw new IllegalArgumentException(
                    role + " URL '" + text + "' must look like http://host:port (got no http(s) scheme or no host)");
        }
        if (uri.getQuery() != null || uri.getFragment() != null) {
            throw new IllegalArgumentException(role + " URL '" + text + "' must not carry a query or a fragment");
        }
        return new Node(role, url);
    }

    public URI uri(String path) {
        return URI.create(url + path);
    }

    @Override
    public String toString() {
        return role + " " + url;
    }
}
