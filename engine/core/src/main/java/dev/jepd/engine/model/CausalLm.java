package dev.jepd.engine.model;

import dev.jepd.engine.kv.PagedKvStore;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;

/** A decoder-only language model the generator and scheduler drive step by step over a paged KV cache. */
public interface CausalLm extends AutoCloseable {
    LmShape shape();

    /**
     * Runs one step over the batch (continuous batching: prefill chunks and decode tokens together),
     * writing the new keys and values into {@code kv}. Returns the logits of the batch's
     * {@link StepBatch#logitRows() logit rows}, {@code [logitRows, vocab]}, in {@code ops}' scope.
     */
    Tensor forward(StepBatch batch, PagedKvStore kv, Ops ops);

    @Override
    void close();

    /**
     * The sizes the KV cache and the scheduler need.
     *
     * @param embedWidth the width of an injected embedding row ({@link StepBatch.Embeds}): {@code hidden}, or
     *     wider where the model takes more per image token (Qwen3-VL's DeepStack levels beside the main row)
     */
    record LmShape(int layers, int kvHeads, int headDim, int hidden, int vocab, int ropeAxes, int embedWidth) {
        /** A model whose injected rows are plain input embeddings ({@code embedWidth == hidden}). */
        public LmShape(int layers, int kvHeads, int headDim, int hidden, int vocab, int ropeAxes) {
            this(layers, kvHeads, headDim, hidden, vocab, ropeAxes, hidden);
        }
    }
}
