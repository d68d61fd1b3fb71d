/**
 * The seams between the engine and whatever moves its data between nodes: {@link
 * dev.jepd.engine.connector.EcConnector} (encoder outputs, keyed by the EC key, located by {@link
 * dev.jepd.engine.connector.EcTransferParams}), the payload-agnostic {@link dev.jepd.engine.connector.LeaseRegistry}
 * (whatever a node holds for a peer until it confirms or the lease runs out) and the KV hand-off types the engine
 * core holds blocks with ({@link dev.jepd.engine.connector.KvLeaseRegistry}, {@link
 * dev.jepd.engine.connector.KvBlocks}, {@link dev.jepd.engine.connector.KvLayout}). The implementations — the
 * shared-storage EC directory in vLLM's {@code ECExampleConnector} layout, the KV side channel and NIXL — live in the
 * {@code jepd-transfer} module, so the engine never depends on a transport.
 */
package dev.jepd.engine.connector;
