/**
 * The proxy's side of every upstream node (encoder, prefill, decode): its own HTTP/1.1 client on pooled
 * keep-alive sockets, each request written and its answer read on the calling thread, with a connect time-out
 * and a per-read time-out ({@link dev.jepd.proxy.upstream.UpstreamClient},
 * {@link dev.jepd.proxy.upstream.ConnectionPool}), and its non-blocking twin for the IO-thread flow on Undertow's own
 * client ({@link dev.jepd.proxy.upstream.AsyncUpstream}: connections pooled per IO thread); the translation of every upstream failure into an OpenAI error
 * with the right status, and whether another node may succeed ({@link dev.jepd.proxy.upstream.UpstreamFailure}:
 * 502 unreachable or failed, 504 too slow, an upstream 4xx passed through and never retried); a decode stream
 * relayed byte for byte with an idle time-out ({@link dev.jepd.proxy.upstream.UpstreamStream}); and the nodes of
 * each role as they are now ({@link dev.jepd.proxy.upstream.Cluster} of {@link dev.jepd.proxy.upstream.Member}s:
 * added and removed at run time, evicted and re-admitted by {@link dev.jepd.proxy.upstream.HealthChecker}, picked
 * by {@link dev.jepd.proxy.upstream.Routing}: round-robin, least-loaded or cache-affinity).
 */
package dev.jepd.proxy.upstream;
