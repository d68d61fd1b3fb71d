/**
 * NIXL transfer of any payload, and the KV transport built on it. {@link dev.jepd.transfer.nixl.NixlExporter}
 * copies a payload under an id into one NIXL-registered area and answers where it is ({@link
 * dev.jepd.transfer.nixl.NixlExport}: agent, metadata, address, length), freeing it on the puller's notification,
 * a release or lease expiry; {@link dev.jepd.transfer.nixl.NixlPuller} reads such a range with one one-sided NIXL
 * read into its own registered area and notifies the exporter. Neither knows what the bytes are. The KV transport
 * is their first client: {@link dev.jepd.transfer.nixl.NixlKvProducer} exports held blocks when a decode node
 * sends STAGE over JEPD's side channel, {@link dev.jepd.transfer.nixl.NixlKvClient} pulls them and confirms with
 * a notification. Used only where {@code libnixl_capi} is installed.
 */
package dev.jepd.transfer.nixl;
