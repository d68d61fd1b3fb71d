/**
 * Fixed-answer upstreams (an encoder's one-token completion, a decode stream of fixed chunks) on loopback, so that a
 * proxy benchmark measures the proxy alone; used by {@code jepd bench proxy}.
 */
package dev.jepd.proxy.bench;
