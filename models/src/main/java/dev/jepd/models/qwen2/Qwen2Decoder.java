package dev.jepd.models.qwen2;

import dev.jepd.engine.kv.PagedKvStore;
import dev.jepd.engine.model.CausalLm;
import dev.jepd.engine.model.SequenceChunk;
import dev.jepd.engine.model.WeightLoader;
import dev.jepd.engine.safetensors.TensorSource;
import dev.jepd.models.qwen2.Qwen2Weights.Layer;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.TensorScope;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * The Qwen2 decoder over a paged KV cache. One {@link #forward} runs every chunk of a step together: the
 * projections and MLPs see all new tokens of all sequences as one matrix; attention runs per sequence
 * against its own cached keys and values.
 */
public final class Qwen2Decoder implements CausalLm {
    private final TensorBackend ops;
    private final Qwen2TextParams p;
    // The weights' scope lives exactly as long as the decoder.
    private final TensorScope weightScope;
    private final Tensor embed; // [vocab, hidden]
    private final Tensor head; // [vocab, hidden]: the embedding itself when tied
    private final Tensor finalNorm; // [hidden]
    private final Layer[] layers;
    private final RotaryTables rotary;
    private BiConsumer<String, Tensor> tap;

    /**
     * Loads the decoder's tensors ({@link Qwen2Weights#table}) from {@code weights}.
     *
     * @param loader maps the checkpoint's names onto Qwen2ForCausalLM's (a VL model's prefixes) and says
     *     which of the checkpoint's other tensors to ignore
     */
    public Qwen2Decoder(TensorBackend ops, Qwen2TextParams params, TensorSource weights, WeightLoader loader) {
        this.ops = ops;
        this.p = params;
        this.weightScope = ops.scope();
        try {
            Qwen2Weights.Bound w = Qwen2Weights.Bound.of(
                    Qwen2Weights.table(params).load(loader, weights, ops, "the Qwen2 language model"), params);
            embed = w.embed();
            head = w.head();
            finalNorm = w.finalNorm();
            layers = w.layers().toArray(Layer[]::new);
        } catch (RuntimeException e) {
            weightScope.close();
            throw e;
        }
        weightScope.detach();
        rotary = new RotaryTables(params.headDim(), params.ropeTheta(), params.mropeSection());
    }

    /** Observes intermediate activations (tests compare them with the reference). */
    public void setTap(BiConsumer<String, Tensor> tap) {
        this.tap = tap;
    }

    @Override
    public LmShape shape() {
        return new LmShape(p.layers(), p.kvHeads(), p.headDim(), p.hidden(), p.vocab(), p.ropeAxes());
    }

    @Override
    public List<float[]> forward(List<SequenceChunk> chunks, PagedKvStore kv) {
        int total = 0;
        for (SequenceChunk c : chunks) {
            total += c.length();
        }
        if (total == 0) {
            return List.of();
        }
        int axes = p.ropeAxes();
        long[] ids = new long[total];
        long[] slots = new long[total];
        long[][] positions = new long[axes][total];
        List<Long> injectIndex = new ArrayList<>();
        List<float[]> injectRows = new ArrayList<>();
        int off = 0;
        for (SequenceChunk c : chunks) {
            for (int i = 0; i < c.length(); i++) {
                ids[off + i] = c.tokenIds()[i];
                slots[off + i] = c.slots()[i];
                for (int a = 0; a < axes; a++) {
                    positions[a][off + i] = c.positions()[Math.min(a, c.positions().length - 1)][i];
                }
            }
            for (SequenceChunk.InjectedRows r : c.injected()) {
                for (int k = 0; k < r.count(); k++) {
                    injectIndex.add((long) (off + r.offset() + k));
                }
                float[] rows = new float[r.count() * p.hidden()];
                System.arraycopy(r.data(), r.dataRowOffset() * p.hidden(), rows, 0, rows.length);
                injectRows.add(rows);
            }
            off += c.length();
        }

        try (TensorScope step = ops.scope()) {
            Tensor x = ops.gatherRows(embed, ops.fromLongs(ids, total)); // [T, hidden]
            if (!injectIndex.isEmpty()) {
                float[] rows = concatRows(injectRows);
                long[] idx = injectIndex.stream().mapToLong(Long::longValue).toArray();
                ops.scatterRows(x, ops.fromLongs(idx, idx.length), ops.fromFloats(rows, idx.length, p.hidden()));
            }
            tap("inputs_embeds", x);
            float[][] cs = rotary.tables(positions);
            Tensor cos = ops.fromFloats(cs[0], total, 1, p.headDim()); // [T, 1, hd]
            Tensor sin = ops.fromFloats(cs[1], total, 1, p.headDim());
            Tensor slotIdx = ops.fromLongs(slots, total);
            List<ChunkAttention> attn = new ArrayList<>(chunks.size());
            off = 0;
            for (SequenceChunk c : chunks) {
                attn.add(new ChunkAttention(c, off));
                off += c.length();
            }

            for (int l = 0; l < layers.length; l++) {
                Layer w = layers[l];
                Tensor h = ops.rmsNorm(x, w.inNorm(), p.rmsNormEps());
                Tensor q =
                        ops.rotary(ops.reshape(ops.linear(h, w.qW(), w.qB()), total, p.heads(), p.headDim()), cos, sin);
                Tensor k = ops.rotary(
                        ops.reshape(ops.linear(h, w.kW(), w.kB()), total, p.kvHeads(), p.headDim()), cos, sin);
                Tensor v = ops.reshape(ops.linear(h, w.vW(), w.vB()), total, p.kvHeads(), p.headDim());
                ops.scatterRows(kv.keys(l), slotIdx, k);
                ops.scatterRows(kv.values(l), slotIdx, v);
                List<Tensor> outs = new ArrayList<>(chunks.size());
                for (ChunkAttention ca : attn) {
                    outs.add(ca.attend(q, k, v, kv, l));
                }
                Tensor o = outs.size() == 1 ? outs.getFirst() : ops.concat(outs, 0); // [T, heads*hd]
                x = ops.add(x, ops.linear(o, w.oW(), null));
                Tensor h2 = ops.rmsNorm(x, w.postNorm(), p.rmsNormEps());
                Tensor mlp = ops.mul(ops.silu(ops.linear(h2, w.gateW(), null)), ops.linear(h2, w.upW(), null));
                x = ops.add(x, ops.linear(mlp, w.downW(), null));
                tap("layer_out." + l, x);
            }

            List<Long> lastRows = new ArrayList<>();
            off = 0;
            for (SequenceChunk c : chunks) {
                if (c.wantLogits() && c.length() > 0) {
                    lastRows.add((long) (off + c.length() - 1));
                }
                off += c.length();
            }
            if (tap != null) {
                tap("final_norm", ops.rmsNorm(x, finalNorm, p.rmsNormEps()));
            }
            if (lastRows.isEmpty()) {
                return List.of();
            }
            long[] last = lastRows.stream().mapToLong(Long::longValue).toArray();
            Tensor xl = ops.rmsNorm(ops.gatherRows(x, ops.fromLongs(last, last.length)), finalNorm, p.rmsNormEps());
            float[] logits = ops.linear(xl, head, null).toFloats(); // [B, vocab]
            List<float[]> out = new ArrayList<>(last.length);
            for (int b = 0; b < last.length; b++) {
                float[] row = new float[p.vocab()];
                System.arraycopy(logits, b * p.vocab(), row, 0, p.vocab());
                out.add(row);
            }
            return out;
        }
    }

    /** Attention of one chunk's queries over its sequence's cached keys (causal inside the chunk). */
    private final class ChunkAttention {
        private final SequenceChunk c;
        private final int offset;
        private final Tensor ctxIdx;
        /** A fresh sequence's keys are the whole context: hand them over; otherwise they are read from the cache. */
        private final boolean fresh;

        ChunkAttention(SequenceChunk c, int offset) {
            this.c = c;
            this.offset = offset;
            this.ctxIdx = ops.fromLongs(c.contextSlots(), c.contextSlots().length); // [S]
            this.fresh = c.start() == 0 && c.contextSlots().length == c.length();
        }

        Tensor attend(Tensor q, Tensor k, Tensor v, PagedKvStore kv, int layer) {
            int n = c.length();
            Tensor out = ops.pagedAttention(
                    ops.slice(q, 0, offset, offset + n), // [n, heads, hd]
                    fresh ? ops.slice(k, 0, offset, offset + n) : null, // [n, kvH, hd]
                    fresh ? ops.slice(v, 0, offset, offset + n) : null,
                    kv.keys(layer),
                    kv.values(layer),
                    ctxIdx,
                    c.start(),
                    (float) (1.0 / Math.sqrt(p.headDim()))); // [n, heads, hd]
            return ops.reshape(out, n, (long) p.heads() * p.headDim());
        }
    }

    private void tap(String name, Tensor t) {
        if (tap != null) {
            tap.accept(name, t);
        }
    }

    private static float[] concatRows(List<float[]> parts) {
        int n = 0;
        for (float[] a : parts) {
            n += a.length;
        }
        float[] out = new float[n];
        int o = 0;
        for (float[] a : parts) {
            System.arraycopy(a, 0, out, o, a.length);
            o += a.length;
        }
        return out;
    }

    @Override
    public void close() {
        weightScope.close();
    }
}
