package dev.jepd.proxy.upstream;

/** A whole upstream answer with a 2xx status: passed to the client as it came (status, type, bytes). */
public record UpstreamResponse(Node node, int status, String contentType, byte[] body) {}
