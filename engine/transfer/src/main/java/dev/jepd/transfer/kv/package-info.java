/**
 * Prefill/decode KV transfer (DESIGN §4.4): the {@code --kv-transfer-config} roles
 * ({@link dev.jepd.transfer.kv.KvTransferConfig}), vLLM's {@code kv_transfer_params}
 * ({@link dev.jepd.transfer.kv.KvTransferParams}), the leases under which a prefill node holds a finished
 * prompt's blocks until its decode node confirms ({@link dev.jepd.engine.connector.KvLeaseRegistry}), and the
 * transport SPI: a {@link dev.jepd.engine.connector.KvBlockSource} serves block reads on the prefill node, a
 * {@link dev.jepd.transfer.kv.KvTransport} pulls them on the decode node. JEPD's own transport is a
 * side-channel TCP protocol ({@link dev.jepd.transfer.kv.KvWire}, {@link
 * dev.jepd.transfer.kv.JepdKvServer}, {@link dev.jepd.transfer.kv.JepdKvClient}): binary frames,
 * block-granular float32 little-endian rows straight from the paged cache, one request per connection, bounded
 * timeouts; READ, RELEASE and STAGE are three handlers on the generic side channel of {@code
 * dev.jepd.transfer.channel}. The NIXL transport, a KV client of the generic NIXL exporter and puller, is in
 * {@code dev.jepd.transfer.nixl}.
 */
package dev.jepd.transfer.kv;
