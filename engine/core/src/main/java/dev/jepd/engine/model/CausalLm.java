package dev.jepd.engine.model;

import dev.jepd.engine.kv.PagedKvStore;
import java.util.List;

/** A decoder-only language model the generator and scheduler drive step by step over a paged KV cache. */
public interface CausalLm extends AutoCloseable {
    LmShape shape();

    /**
     * Runs one step over every chunk (continuous batching: prefill chunks and decode tokens together),
     * writing their keys and values into {@code kv}. Returns the last-token logits of each chunk that
     * wants them, in chunk order.
     */
    List<float[]> forward(List<SequenceChunk> chunks, PagedKvStore kv);

    @Override
    void close();

    /** The sizes the KV cache and the scheduler need. */
    record LmShape(int layers, int kvHeads, int headDim, int hidden, int vocab, int ropeAxes) {}
}
