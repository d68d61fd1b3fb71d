/**
 * vLLM's own NixlConnector protocol, so a JEPD prefill node can serve a stock vLLM decode node
 * ({@link dev.jepd.transfer.vllm.VllmNixlProducer}, {@link dev.jepd.transfer.vllm.VllmSideChannel}) and a JEPD decode
 * node can read a vLLM prefill node ({@link dev.jepd.transfer.vllm.VllmNixlClient}): the ZMQ side
 * channel (a ROUTER answering {@code (b"get_meta_msg", tp_rank)} with a msgpack {@code NixlHandshakePayload}),
 * the compatibility hash, the KV layout vLLM reads (per layer a K and a V region of HND bf16 blocks) and the
 * {@code "<request id>:<consumer tp size>"} notification that frees the blocks. Written from vLLM's
 * {@code nixl_connector.py} at {@code NIXL_CONNECTOR_VERSION} 2, and from the {@code nixl/} package at version 12
 * (metadata.py 02cfb534, base_scheduler.py and pull_scheduler.py 0050936b, base_worker.py 00bd5131, pull_worker.py
 * 0316d25a; see {@link dev.jepd.transfer.vllm.VllmWireVersion}): three-element get_meta, a clock frame,
 * per-group block ids and {@code "HB:"} heartbeats renewing short leases. The goldens under
 * {@code src/test/resources/kv/vllm-nixl} were made with msgspec itself.
 */
package dev.jepd.transfer.vllm;
