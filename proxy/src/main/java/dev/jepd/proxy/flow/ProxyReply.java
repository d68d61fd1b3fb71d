package dev.jepd.proxy.flow;

import dev.jepd.proxy.upstream.Lease;
import dev.jepd.proxy.upstream.UpstreamResponse;
import dev.jepd.proxy.upstream.UpstreamStream;

/** The decode node's answer, for the route to write: whole, or a stream still to be relayed. */
public sealed interface ProxyReply extends AutoCloseable {
    record Whole(UpstreamResponse response) implements ProxyReply {
        @Override
        public void close() {}
    }

    /** Closing it cancels the upstream (if still running) and frees the decode node's routing lease. */
    record Streamed(UpstreamStream stream, Lease lease) implements ProxyReply {
        @Override
        public void close() {
            try {
                stream.close();
            } finally {
                lease.close();
            }
        }
    }

    @Override
    void close();
}
