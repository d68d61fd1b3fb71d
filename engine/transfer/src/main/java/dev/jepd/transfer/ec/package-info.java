/**
 * The encoder cache (EC) store that lets an encoder node hand vision embeddings to prefill/decode nodes, in the
 * layout of vLLM's {@code ECExampleConnector} so that JEPD and stock vLLM nodes can share one directory: one
 * {@code <shared_storage_path>/<key>/encoder_cache.safetensors} per multimodal item holding a single {@code ec_cache}
 * tensor of shape {@code [num_tokens, D]}. {@link dev.jepd.transfer.ec.EcKeys} decides the key (a client's {@code
 * uuid}, or vLLM's mm_hash from {@link dev.jepd.transfer.ec.MmHasher}) and {@link
 * dev.jepd.transfer.ec.SharedStorageEcConnector} implements the engine's {@code EcConnector} over a shared directory,
 * adding what vLLM lacks: atomic writes, an optional LRU capacity cap and hit/miss counters. A damaged or foreign
 * file is always a counted miss, never an exception or a crash, because the encoder can recompute it.
 *
 * <p>Over shared storage the key alone finds an entry, so {@code publish} answers {@code EcTransferParams.none()}
 * and {@code lookup} ignores the params. A NIXL EC connector (not written) would need only the generic pieces the
 * KV transfer already uses: publish would export the entry's bytes under its key with a {@code
 * dev.jepd.transfer.nixl.NixlExporter} and answer the encoder's side channel in {@code EcTransferParams}; lookup
 * would ask that side channel ({@code dev.jepd.transfer.channel}, one more op handler) where the bytes are, read
 * them with a {@code dev.jepd.transfer.nixl.NixlPuller} and notify the encoder to release them.
 */
package dev.jepd.transfer.ec;
