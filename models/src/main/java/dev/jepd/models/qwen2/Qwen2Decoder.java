package dev.jepd.models.qwen2;

import dev.jepd.engine.kv.PagedKvStore;
import dev.jepd.engine.model.CausalLm;
import dev.jepd.engine.model.StepBatch;
import dev.jepd.engine.model.WeightLoader;
import dev.jepd.engine.safetensors.TensorSource;
import dev.jepd.models.qwen2.Qwen2Weights.Layer;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * The Qwen2 decoder over a paged KV cache. One {@link #forward} runs a whole step batch together: the
 * projections and MLPs see all new tokens of all sequences as one matrix; attention runs per sequence
 * against its own cached keys and values. The scheduler packs the batch; this class does maths only.
 *
 * <p>Its options make it Qwen3's decoder as well ({@link Qwen2TextParams}): q/k RMSNorm per head, no q/k/v
 * bias, interleaved M-RoPE, and DeepStack: an injected row then carries the input embedding followed by one
 * row per level ({@code [hidden × (1 + levels)]}, vLLM's layout of Qwen3-VL's encoder output), and level
 * {@code l} is added to those rows' hidden states after layer {@code l}, as transformers'
 * {@code Qwen3VLTextModel} does.
 */
public final class Qwen2Decoder implements CausalLm {
    private final Qwen2TextParams p;
    // The weights' scope lives exactly as long as the decoder.
    private final Scope weightScope;
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
    public Qwen2Decoder(TensorBackend backend, Qwen2TextParams params, TensorSource weights, WeightLoader loader) {
        this.p = params;
        this.weightScope = backend.open();
        try {
            Qwen2Weights.Bound w = Qwen2Weights.Bound.of(
                    Qwen2Weights.table(params)
                            .load(loader, weights, backend.ops(weightScope), "the Qwen2 language model"),
                    params);
            embed = w.embed();
            head = w.head();
            finalNorm = w.finalNorm();
            layers = w.layers().toArray(Layer[]::new);
        } catch (RuntimeException e) {
            weightScope.close();
            throw e;
        }
        rotary = new RotaryTables(
                params.headDim(), params.ropeTheta(), params.mropeSection(), params.mropeInterleaved());
    }

    /** Observes intermediate activations (tests compare them with the reference). */
    public void setTap(BiConsumer<String, Tensor> tap) {
        this.tap = tap;
    }

    @Override
    public LmShape shape() {
        return new LmShape(p.layers(), p.kvHeads(), p.headDim(), p.hidden(), p.vocab(), p.ropeAxes(), p.embedWidth());
    }

    @Override
    public Tensor forward(StepBatch batch, PagedKvStore kv, Ops ops) {
        int total = batch.rows();
        if (total == 0) {
            return ops.zeros(0, p.vocab());
        }
        Tensor x = ops.gatherRows(embed, ops.fromLongs(batch.tokenIds(), total)); // [T, hidden]
        StepBatch.Embeds e = batch.embeds();
        Tensor embedRows = null; // [E]
        List<Tensor> deepstack = List.of(); // per level [E, hidden]
        if (!e.isEmpty()) {
            if (e.width() != p.embedWidth()) {
                throw new IllegalArgumentException(
                        "injected embedding rows are " + e.width() + " wide; this model takes "
                                + p.embedWidth() + " (hidden " + p.hidden() + " × (1 + " + p.deepstackLevels()
                                + " DeepStack levels))");
            }
            embedRows = ops.fromLongs(e.rows(), e.rows().length);
            Tensor rows = ops.fromFloats(e.data(), e.rows().length, e.width()); // [E, hidden*(1+levels)]
            if (p.deepstackLevels() == 0) {
                ops.scatterRows(x, embedRows, rows);
            } else {
                ops.scatterRows(x, embedRows, ops.slice(rows, 1, 0, p.hidden()));
                deepstack = new ArrayList<>(p.deepstackLevels());
                for (int l = 1; l <= p.deepstackLevels(); l++) {
                    deepstack.add(ops.slice(rows, 1, (long) l * p.hidden(), (long) (l + 1) * p.hidden()));
                }
            }
        }
        tap("inputs_embeds", x);
        float[][] cs = rotary.tables(batch.positions());
        Tensor cos = ops.fromFloats(cs[0], total, 1, p.headDim()); // [T, 1, hd]
        Tensor sin = ops.fromFloats(cs[1], total, 1, p.headDim());
        Tensor slotIdx = ops.fromLongs(batch.slotMapping(), total);
        // The sequences that add one row each (decodes) attend in one call per layer; the others one call each.
        DecodeGroup group = DecodeGroup.of(batch, ops);
        List<Tensor> contexts = new ArrayList<>(batch.attention().size()); // null for the group's sequences
        for (int i = 0; i < batch.attention().size(); i++) {
            StepBatch.SeqAttention a = batch.attention().get(i);
            boolean grouped = group != null && group.member()[i];
            contexts.add(grouped ? null : ops.fromLongs(a.contextSlots(), a.contextSlots().length)); // [S]
        }
        float scale = (float) (1.0 / Math.sqrt(p.headDim()));

        Tensor h = null; // the layer's normed input, when the add before it made it
        for (int l = 0; l < layers.length; l++) {
            Layer w = layers[l];
            if (h == null) {
                h = ops.rmsNorm(x, w.inNorm(), p.rmsNormEps());
            }
            Tensor q = ops.reshape(ops.linear(h, w.qW(), w.qB()), total, p.heads(), p.headDim()); // [T, heads, hd]
            Tensor k = ops.reshape(ops.linear(h, w.kW(), w.kB()), total, p.kvHeads(), p.headDim()); // [T, kvH, hd]
            if (p.qkNorm()) { // Qwen3: RMSNorm over each head's dimensions, before the rotary
                q = ops.rmsNorm(q, w.qNorm(), p.rmsNormEps());
                k = ops.rmsNorm(k, w.kNorm(), p.rmsNormEps());
            }
            q = ops.rotary(q, cos, sin);
            k = ops.rotary(k, cos, sin);
            Tensor v = ops.reshape(ops.linear(h, w.vW(), w.vB()), total, p.kvHeads(), p.headDim());
            ops.scatterRows(kv.keys(l), slotIdx, k);
            ops.scatterRows(kv.values(l), slotIdx, v);
            Tensor o = attention(batch, group, q, k, v, kv, l, contexts, scale, ops); // [T, heads*hd]
            // each residual add with the RMSNorm after it, where nothing comes between them
            Ops.Normed r = ops.addRmsNorm(x, ops.linear(o, w.oW(), null), w.postNorm(), p.rmsNormEps());
            x = r.sum();
            Tensor mlp = ops.linearSiluMul(r.normed(), w.gateW(), null, w.upW(), null);
            Tensor down = ops.linear(mlp, w.downW(), null);
            if (l + 1 < layers.length && l >= deepstack.size()) {
                Ops.Normed next = ops.addRmsNorm(x, down, layers[l + 1].inNorm(), p.rmsNormEps());
                x = next.sum();
                h = next.normed();
            } else {
                x = ops.add(x, down);
                h = null;
            }
            tap("layer_out." + l, x);
            if (l < deepstack.size()) { // DeepStack: this level's visual features join the image rows
                Tensor add = ops.zeros(total, p.hidden()); // [T, hidden], zero off the image rows
                ops.scatterRows(add, embedRows, deepstack.get(l));
                x = ops.add(x, add);
            }
        }
        if (tap != null) {
            tap("final_norm", ops.rmsNorm(x, finalNorm, p.rmsNormEps()));
        }
        long[] last = batch.logitRows();
        if (last.length == 0) {
            return ops.zeros(0, p.vocab());
        }
        Tensor xl = ops.rmsNorm(ops.gatherRows(x, ops.fromLongs(last, last.length)), finalNorm, p.rmsNormEps());
        return ops.linear(xl, head, null); // [rows, vocab]
    }

    /**
     * Each sequence's rows attend to its own context: the decode group's in one call for all of them, every other
     * sequence in a paged-attention call of its own.
     */
    private Tensor attention(
            StepBatch batch,
            DecodeGroup group,
            Tensor q,
            Tensor k,
            Tensor v,
            PagedKvStore kv,
            int l,
            List<Tensor> contexts,
            float scale,
            Ops ops) {
        long width = (long) p.heads() * p.headDim();
        Tensor grouped = null; // [D, heads, hd]
        if (group != null) {
            Tensor gq = group.wholeBatch() ? q : ops.gatherRows(q, group.rows()); // [D, heads, hd]
            grouped = ops.pagedDecodeAttention(gq, kv.keys(l), kv.values(l), group.slots(), group.lengths(), scale);
            if (group.wholeBatch()) {
                return ops.reshape(grouped, batch.rows(), width);
            }
        }
        List<Tensor> outs = new ArrayList<>(contexts.size());
        int j = 0;
        for (int i = 0; i < contexts.size(); i++) {
            StepBatch.SeqAttention a = batch.attention().get(i);
            if (group != null && group.member()[i]) {
                outs.add(ops.reshape(ops.slice(grouped, 0, j, j + 1), 1, width));
                j++;
                continue;
            }
            int from = a.offset();
            int to = from + a.length();
            // A fresh sequence's keys are its whole context: hand them over; otherwise read the cache.
            Tensor out = ops.pagedAttention(
                    ops.slice(q, 0, from, to), // [n, heads, hd]
                    a.fresh() ? ops.slice(k, 0, from, to) : null, // [n, kvH, hd]
                    a.fresh() ? ops.slice(v, 0, from, to) : null,
                    kv.keys(l),
                    kv.values(l),
                    contexts.get(i),
                    a.start(),
                    scale); // [n, heads, hd]
            outs.add(ops.reshape(out, a.length(), width));
        }
        return outs.size() == 1 ? outs.getFirst() : ops.concat(outs, 0); // [T, heads*hd]
    }

    /**
     * The sequences of a step that add one row each (decodes, and one-token prompts): their new keys are in the
     * cache before attention, so they attend together in one {@code pagedDecodeAttention} call per layer.
     *
     * @param member which of the step's sequences belong to the group
     * @param rows int64 {@code [D]}: the group's rows of the step, in sequence order
     * @param slots int64 {@code [D, S]}: their context slots, each row padded with its own first slot (masked off)
     * @param wholeBatch every sequence of the step is in the group and sequence {@code i} owns row {@code i}
     */
    private record DecodeGroup(boolean[] member, Tensor rows, Tensor slots, int[] lengths, boolean wholeBatch) {
        /**
         * The step's group, or null when no sequence adds one row. A lone decode is a group of one: the decode op
         * reads its context from the cache as a batch's does (JEPD's CPU kernel where it runs).
         */
        static DecodeGroup of(StepBatch batch, Ops ops) {
            List<StepBatch.SeqAttention> att = batch.attention();
            boolean[] member = new boolean[att.size()];
            int count = 0;
            int s = 1;
            boolean inOrder = true;
            for (int i = 0; i < att.size(); i++) {
                StepBatch.SeqAttention a = att.get(i);
                if (a.length() == 1) {
                    member[i] = true;
                    inOrder &= a.offset() == count;
                    count++;
                    s = Math.max(s, a.contextSlots().length);
                }
            }
            if (count == 0) {
                return null;
            }
            long[] rows = new long[count];
            int[] lengths = new int[count];
            long[] table = new long[Math.multiplyExact(count, s)];
            int j = 0;
            for (int i = 0; i < att.size(); i++) {
                if (member[i]) {
                    long[] slots = att.get(i).contextSlots();
                    rows[j] = att.get(i).offset();
                    lengths[j] = slots.length;
                    System.arraycopy(slots, 0, table, j * s, slots.length);
                    Arrays.fill(table, j * s + slots.length, (j + 1) * s, slots[0]);
                    j++;
                }
            }
            boolean whole = count == att.size() && count == batch.rows() && inOrder;
            return new DecodeGroup(member, ops.fromLongs(rows, count), ops.fromLongs(table, count, s), lengths, whole);
        }
    }

    private void tap(String name, Tensor t) {
        if (tap != null) {
            tap.accept(name, t);
        }
    }

    @Override
    public void close() {
        weightScope.close();
    }
}
