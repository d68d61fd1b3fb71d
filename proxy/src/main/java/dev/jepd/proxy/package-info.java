/**
 * The JEPD proxy ({@code jepd proxy}): the OpenAI API in front of encoder, prefill and decode nodes, with
 * the flags and behaviour of vLLM's {@code disagg_epd_proxy.py} ({@link dev.jepd.proxy.ProxyMain}), so
 * that either proxy can front either kind of node. {@link dev.jepd.proxy.ProxyServer} composes the server
 * in one place; {@link dev.jepd.proxy.ProxyRoutes} translates HTTP to the stages of
 * {@code dev.jepd.proxy.flow}, which use {@code dev.jepd.proxy.items} (what a request's media are, their
 * uuids and cost) and {@code dev.jepd.proxy.upstream} (how nodes are reached and chosen). It depends only
 * on light engine parts (HTTP plumbing, image-size arithmetic) and never loads tensor libraries.
 */
package dev.jepd.proxy;
