package dev.jepd.engine.model;

import java.util.ArrayList;
import java.util.List;

/**
 * One forward step, packed by the scheduler: every new token of every scheduled sequence as one flat batch
 * of {@code T} rows, plus what attention and the LM head need. A model's forward reads it and does maths
 * only; nothing in a model packs positions, slots or embedding rows.
 *
 * @param tokenIds the new tokens {@code [T]}; image positions hold the image token id until
 *     {@code embeds} overwrites their rows
 * @param positions rotary positions per axis {@code [axes][T]} (3 axes for M-RoPE: t, h, w)
 * @param slotMapping the KV-cache slot each new token's keys and values go to {@code [T]}
 * @param attention each sequence's share of the rows and its context
 * @param embeds rows of the input embeddings replaced by image features
 * @param logitRows rows whose logits the sampler needs (each sequence's last row when it wants one), in
 *     sequence order
 */
public record StepBatch(
        long[] tokenIds,
        long[][] positions,
        long[] slotMapping,
        List<SeqAttention> attention,
        Embeds embeds,
        long[] logitRows) {

    /** Rows in the batch. */
    public int rows() {
        return tokenIds.length;
    }

    /**
     * One sequence's rows {@code [offset, offset + length)} of the batch and what they attend to.
     *
     * @param contextSlots slots of every token the rows attend to, in sequence order, ending with the new ones
     * @param start the sequence index of the first new row (the causal mask's offset)
     */
    public record SeqAttention(int offset, int length, long[] contextSlots, int start) {
        /** A fresh sequence: its new rows are its whole context, so their keys need not be read back. */
        public boolean fresh() {
            return start == 0 && contextSlots.length == length;
        }
    }

    /**
     * Embedding rows that replace token embeddings: {@code rows[i]} of the batch gets row {@code i} of
     * {@code data} ({@code [rows.length, width]} row-major).
     */
    public record Embeds(long[] rows, float[] data, int width) {
        public static final Embeds NONE = new Embeds(new long[0], new float[0], 0);

        public boolean isEmpty() {
            return rows.length == 0;
        }
    }

    /**
     * Packs the chunks of one step in order.
     *
     * @param axes rotary axes the model wants (a chunk with fewer repeats its last axis)
     * @param width the width of injected embedding rows ({@link CausalLm.LmShape#embedWidth()}: the hidden size,
     *     or wider with DeepStack)
     */
    public static StepBatch pack(List<SequenceChunk> chunks, int axes, int width) {
        int total = 0;
        for (SequenceChunk c : chunks) {
            total += c.length();
        }
        long[] ids = new long[total];
        long[] slots = new long[total];
        long[][] positions = new long[axes][total];
        List<SeqAttention> attention = new ArrayList<>(chunks.size());
        List<Long> logitRows = new ArrayList<>();
        int injectedRows = 0;
        for (SequenceChunk c : chunks) {
            for (SequenceChunk.InjectedRows r : c.injected()) {
                injectedRows += r.count();
            }
        }
        long[] embedRows = new long[injectedRows];
        float[] embedData = new float[Math.multiplyExact(injectedRows, width)];
        int off = 0;
        int e = 0;
        for (SequenceChunk c : chunks) {
            int n = c.length();
            for (int i = 0; i < n; i++) {
                ids[off + i] = c.tokenIds()[i];
                slots[off + i] = c.slots()[i];
                for (int a = 0; a < axes; a++) {
                    positions[a][off + i] = c.positions()[Math.min(a, c.positions().length - 1)][i];
                }
            }
            for (SequenceChunk.InjectedRows r : c.injected()) {
                System.arraycopy(r.data(), r.dataRowOffset() * width, embedData, e * width, r.count() * width);
                for (int k = 0; k < r.count(); k++) {
                    embedRows[e++] = off + r.offset() + k;
                }
            }
            attention.add(new SeqAttention(off, n, c.contextSlots(), c.start()));
            if (c.wantLogits() && n > 0) {
                logitRows.add((long) (off + n - 1));
            }
            off += n;
        }
        Embeds embeds = injectedRows == 0 ? Embeds.NONE : new Embeds(embedRows, embedData, width);
        return new StepBatch(
                ids,
                positions,
                slots,
                List.copyOf(attention),
                embeds,
                logitRows.stream().mapToLong(Long::longValue).toArray());
    }
}
