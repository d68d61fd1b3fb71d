package dev.jepd.transfer.nixl;

/**
 * Where an exporter put a payload for a one-sided NIXL read: {@code bytes} bytes at {@code address} in memory
 * registered with agent {@code agent}, whose metadata is {@code metadata}. What the bytes mean is the payload's
 * business; a handshake carries this record to the puller.
 */
public record NixlExport(String agent, byte[] metadata, long address, long bytes) {
    public NixlExport {
        if (bytes <= 0) {
            throw new IllegalArgumentException("an export of " + bytes + " bytes");
        }
        if (metadata == null || metadata.length == 0) {
            throw new IllegalArgumentException("an export without its agent's NIXL metadata");
        }
    }
}
