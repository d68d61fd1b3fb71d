/**
 * The HTTP plumbing every JEPD process shares (encoder node, PD node, proxy): an Undertow server whose
 * handler chain is composed in one place ({@link dev.jepd.api.HttpServer}), OpenAI error JSON
 * ({@link dev.jepd.api.ApiException}), Server-Sent Events framing ({@link dev.jepd.api.Sse}), JSON helpers,
 * and the one content-part grammar the proxy and the nodes both read ({@link dev.jepd.api.ChatContentParts}).
 * Nothing here touches tensors, so the proxy can use it without tensor libraries.
 */
package dev.jepd.api;
