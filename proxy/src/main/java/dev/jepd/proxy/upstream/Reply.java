package dev.jepd.proxy.upstream;

/** A whole upstream answer as it came, whatever its status: what fan-outs and probes look at. */
public record Reply(int statusCode, String contentType, byte[] body) {}
