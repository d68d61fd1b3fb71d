package dev.jepd.engine.model;

import java.util.List;

/**
 * One sequence's share of a forward step: {@code n} new tokens (a prefill chunk, or one decode token)
 * and what they attend to.
 *
 * @param tokenIds the new tokens [n]; image positions hold the image token id and are overwritten by
 *     {@code injected} rows
 * @param positions rotary positions per axis [axes][n] (3 axes for M-RoPE: t, h, w)
 * @param slots KV-cache slots where the new tokens' keys and values go [n]
 * @param contextSlots slots of every token attended to, in sequence order, ending with the new ones
 *     [start + n]
 * @param start sequence index of the first new token (the causal mask's offset)
 * @param injected embedding rows (image features) that replace token embeddings inside this chunk
 * @param wantLogits whether the last new token's logits are needed (false for non-final prefill chunks)
 */
public record SequenceChunk(
        int[] tokenIds,
        long[][] positions,
        long[] slots,
        long[] contextSlots,
        int start,
        List<InjectedRows> injected,
        boolean wantLogits) {
    public int length() {
        return tokenIds.length;
    }

    /** {@code count} rows of width {@code dim} (row-major in {@code data}) placed at chunk offset {@code offset}. */
    public record InjectedRows(int offset, int count, float[] data, int dataRowOffset) {}
}
