/**
 * Prefill/decode KV transfer (DESIGN §4.4): the {@code --kv-transfer-config} roles
 * ({@link dev.jepd.engine.kv.transfer.KvTransferConfig}), vLLM's {@code kv_transfer_params}
 * ({@link dev.jepd.engine.kv.transfer.KvTransferParams}), the leases under which a prefill node holds a finished
 * prompt's blocks until its decode node confirms ({@link dev.jepd.engine.kv.transfer.KvLeaseRegistry}), and the
 * transport SPI: a {@link dev.jepd.engine.kv.transfer.KvBlockSource} serves block reads on the prefill node, a
 * {@link dev.jepd.engine.kv.transfer.KvTransport} pulls them on the decode node. JEPD's own transport is a
 * side-channel TCP protocol ({@link dev.jepd.engine.kv.transfer.KvWire}, {@link
 * dev.jepd.engine.kv.transfer.JepdKvServer}, {@link dev.jepd.engine.kv.transfer.JepdKvClient}): binary frames,
 * block-granular float32 little-endian rows straight from the paged cache, one request per connection, bounded
 * timeouts. NIXL is not implemented.
 */
package dev.jepd.engine.kv.transfer;
