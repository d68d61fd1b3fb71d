/**
 * Paged KV cache bookkeeping, without tensors: a {@link dev.jepd.engine.kv.BlockPool} of fixed-size blocks
 * with reference counts (vLLM's {@code BlockPool}), one {@link dev.jepd.engine.kv.BlockTable} per sequence
 * mapping token positions to physical slots ({@code blockId * blockSize + offset}, vLLM's slot mapping), and
 * the {@link dev.jepd.engine.kv.KvCacheSpec} that sizes the pool from a memory budget. The tensor storage,
 * the scheduler and the KV transfer side all stand on these ids; nothing here allocates device memory.
 */
package dev.jepd.engine.kv;
