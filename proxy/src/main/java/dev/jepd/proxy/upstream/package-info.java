/**
 * The proxy's side of every upstream node (encoder, prefill, decode): one shared
 * {@link java.net.http.HttpClient} speaking HTTP/1.1 with a connect time-out and a per-request time-out
 * ({@link dev.jepd.proxy.upstream.UpstreamClient}), the translation of every upstream failure into an
 * OpenAI error with the right status ({@link dev.jepd.proxy.upstream.UpstreamFailure}: 502 unreachable or
 * failed, 504 too slow, an upstream 4xx passed through), a decode stream relayed byte for byte with an
 * idle time-out ({@link dev.jepd.proxy.upstream.UpstreamStream}), and the choice of a node within a
 * cluster ({@link dev.jepd.proxy.upstream.Router}: round-robin or least-loaded by estimated cost).
 */
package dev.jepd.proxy.upstream;
