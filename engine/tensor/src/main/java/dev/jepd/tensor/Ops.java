package dev.jepd.tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The ops models are written in (~30), bound to one {@link Scope}: every tensor an op makes belongs to
 * {@link #scope()} and dies with it. Shapes follow PyTorch conventions: the last axis is contiguous,
 * binary ops broadcast, negative axes count from the end. Composite ops (norms, attention) have defaults
 * built from the primitives; a backend may fuse them. An {@code Ops} is cheap: make one per scope with
 * {@link TensorBackend#ops(Scope)}; it is used by one thread at a time, as its scope is.
 */
public interface Ops {
    /** The scope every result of these ops belongs to. */
    Scope scope();

    // ---- creation and reading
    Tensor fromFloats(float[] data, long... shape);

    Tensor fromLongs(long[] data, long... shape);

    Tensor zeros(long... shape);

    /**
     * A tensor of {@code shape} made straight from stored bytes, e.g. a slice of a memory-mapped
     * safetensors file: row-major little-endian elements of {@code storedType} (BF16, F16 or F32 at least).
     * The result owns a copy (the caller may unmap {@code stored} afterwards) in the backend's dtype for
     * that stored type, which may be wider (the DJL and reference backends widen to F32; widening is exact).
     */
    Tensor load(MemorySegment stored, DType storedType, long... shape);

    // ---- elementwise (broadcasting)
    Tensor add(Tensor a, Tensor b);

    Tensor sub(Tensor a, Tensor b);

    Tensor mul(Tensor a, Tensor b);

    Tensor div(Tensor a, Tensor b);

    Tensor scale(Tensor a, float s);

    Tensor neg(Tensor a);

    Tensor cos(Tensor a);

    Tensor sin(Tensor a);

    Tensor sigmoid(Tensor a);

    Tensor silu(Tensor a);

    /**
     * The gated MLP's {@code silu(gate) · up} (Hugging Face's {@code act_fn(gate_proj(x)) * up_proj(x)}), rounded as
     * the two ops are; a backend may run it as one pass.
     */
    default Tensor siluMul(Tensor gate, Tensor up) {
        return mul(silu(gate), up);
    }

    /**
     * The gated MLP's {@code silu(x · Gᵀ + bg) · (x · Uᵀ + bu)} ({@code act_fn(gate_proj(x)) * up_proj(x)}), rounded
     * as its ops are; a backend may compute both products and the SiLU·mul in one pass, never writing gate and up out.
     * The biases may be null.
     */
    default Tensor linearSiluMul(Tensor x, Tensor gateW, Tensor gateB, Tensor upW, Tensor upB) {
        return siluMul(linear(x, gateW, gateB), linear(x, upW, upB));
    }

    /** Exact (erf) GELU, PyTorch's {@code nn.GELU()} default. */
    Tensor gelu(Tensor a);

    /** {@code x * sigmoid(1.702 x)} (Qwen2-VL's vision MLP). */
    default Tensor quickGelu(Tensor a) {
        return mul(a, sigmoid(scale(a, 1.702f)));
    }

    // ---- reductions
    Tensor meanLastAxis(Tensor a);

    Tensor softmaxLastAxis(Tensor a);

    // ---- linear algebra
    /** Batched matrix product with broadcasting over leading axes (torch.matmul). */
    Tensor matmul(Tensor a, Tensor b);

    /**
     * {@code x @ w^T + bias} for {@code x [..., in]}, {@code w [out, in]} (the checkpoint layout), bias
     * {@code [out]} or null. A one-row {@code x} runs as a matrix-vector product: at M=1 GEMM paths are
     * 2.5–3.4× slower on CPU.
     */
    Tensor linear(Tensor x, Tensor w, Tensor bias);

    /**
     * {@code gelu(x @ w^T + bias)} with the exact (erf) GELU: the first layer of a vision merger. A backend may run
     * the GELU on the product's accumulator, rounding once (as PyTorch's own GELU kernel rounds once).
     */
    default Tensor linearGelu(Tensor x, Tensor w, Tensor bias) {
        return gelu(linear(x, w, bias));
    }

    // ---- shape
    Tensor reshape(Tensor a, long... shape);

    /** Permutes axes (torch.permute); the result is a view or a copy at the backend's choice. */
    Tensor permute(Tensor a, int... axes);

    Tensor concat(List<Tensor> parts, int axis);

    /** {@code a[..., start:end, ...]} along {@code axis}. */
    Tensor slice(Tensor a, int axis, long start, long end);

    /** Rows of {@code a} (axis 0) at the int64 positions of {@code index} (torch.index_select). */
    Tensor gatherRows(Tensor a, Tensor index);

    /** In place: {@code dst[index[i]] = src[i]} along axis 0 (torch.index_copy_). */
    void scatterRows(Tensor dst, Tensor index, Tensor src);

    // ---- composites
    /** Qwen2RMSNorm: {@code w * x * rsqrt(mean(x²) + eps)} over the last axis, in float32. */
    default Tensor rmsNorm(Tensor x, Tensor w, float eps) {
        Tensor var = meanLastAxis(mul(x, x)); // [..., 1]
        return mul(w, div(x, sqrt(addScalar(var, eps))));
    }

    /** The residual stream after an add, and its RMSNorm: what {@link #addRmsNorm} returns. */
    record Normed(Tensor sum, Tensor normed) {}

    /**
     * The residual add and the next {@link #rmsNorm} as one step (vLLM's {@code fused_add_rms_norm}): {@code sum = x +
     * y} and {@code rmsNorm(sum, w, eps)}. A backend may run both in one pass, the sum read once.
     */
    default Normed addRmsNorm(Tensor x, Tensor y, Tensor w, float eps) {
        Tensor sum = add(x, y);
        return new Normed(sum, rmsNorm(sum, w, eps));
    }

    /** LayerNorm over the last axis with weight and bias. */
    default Tensor layerNorm(Tensor x, Tensor w, Tensor b, float eps) {
        Tensor centred = sub(x, meanLastAxis(x));
        Tensor var = meanLastAxis(mul(centred, centred));
        return add(mul(w, div(centred, sqrt(addScalar(var, eps)))), b);
    }

    Tensor sqrt(Tensor a);

    Tensor addScalar(Tensor a, float s);

    /**
     * Scaled dot-product attention: {@code softmax(q kᵀ · scale + mask) v}. {@code q [..., T, d]},
     * {@code k, v [..., S, d]} broadcasting over leading axes, mask additive {@code [T, S]} or null.
     */
    default Tensor attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        Tensor scores = scale(matmul(q, permuteLastTwo(k)), scale); // [..., T, S]
        if (mask != null) {
            scores = add(scores, mask);
        }
        return matmul(softmaxLastAxis(scores), v); // [..., T, d]
    }

    /**
     * Causal attention of one sequence's new tokens over its paged KV cache (the decoder's attention; vLLM's
     * {@code paged_attention}, flash-attention with a block table). Grouped-query: query head {@code h}
     * reads KV head {@code h / (H / kvH)}.
     *
     * @param q the new tokens' queries {@code [n, H, d]}
     * @param k the new tokens' keys {@code [n, kvH, d]}, already written to {@code keyCache} at the last
     *     {@code n} entries of {@code contextSlots}; a backend may read them here instead of from the cache. May be
     *     null when the chunk continues a cached context ({@code queryStart > 0}): then they are read from the cache
     *     like the rest, and a caller need not cut them out of the step's batch
     * @param v the new tokens' values {@code [n, kvH, d]}, likewise in {@code valueCache}; null exactly when {@code k}
     *     is
     * @param keyCache the layer's key cache {@code [slots, kvH, d]}
     * @param valueCache the layer's value cache {@code [slots, kvH, d]}
     * @param contextSlots int64 {@code [S]}: the cache slots of sequence positions {@code 0..S-1} in order,
     *     {@code S = queryStart + n}
     * @param queryStart the sequence position of the first new token: query {@code i} sees positions
     *     {@code 0..queryStart+i}
     * @return {@code [n, H, d]}
     */
    default Tensor pagedAttention(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor keyCache,
            Tensor valueCache,
            Tensor contextSlots,
            int queryStart,
            float scale) {
        long n = q.dim(0);
        long heads = q.dim(1);
        long d = q.dim(2);
        long kvHeads = keyCache.dim(1);
        long s = contextSlots.dim(0);
        Tensor qg = permute(reshape(q, n, kvHeads, heads / kvHeads, d), 1, 2, 0, 3); // [kvH, g, n, d]
        Tensor kc;
        Tensor vc;
        if (k != null && queryStart == 0 && s == n) {
            kc = k; // a fresh sequence: the new keys are the whole context
            vc = v;
        } else {
            kc = gatherRows(keyCache, contextSlots); // [S, kvH, d]
            vc = gatherRows(valueCache, contextSlots);
        }
        kc = reshape(permute(kc, 1, 0, 2), kvHeads, 1, s, d); // [kvH, 1, S, d]
        vc = reshape(permute(vc, 1, 0, 2), kvHeads, 1, s, d);
        Tensor mask = null;
        if (queryStart + 1 < s) { // some query has a later position in the context: mask it
            float[] m = new float[Math.toIntExact(n * s)];
            for (int i = 0; i < n; i++) {
                for (long j = queryStart + i + 1; j < s; j++) {
                    m[(int) (i * s + j)] = Float.NEGATIVE_INFINITY;
                }
            }
            mask = fromFloats(m, n, s); // [n, S]
        }
        Tensor out = attention(qg, kc, vc, mask, scale); // [kvH, g, n, d]
        return reshape(permute(out, 2, 0, 1, 3), n, heads, d);
    }

    /**
     * Decode attention of a batch of sequences, one new token each, over the paged KV cache (vLLM's
     * {@code paged_attention} with a block table): sequence {@code b}'s query sees its first {@code lengths[b]}
     * context slots, its own new token (already in the cache) last. A backend should run it as one kernel over the
     * whole batch; this default runs {@link #pagedAttention} per sequence.
     *
     * @param q {@code [B, H, d]}: one query row per sequence
     * @param keyCache the layer's key cache {@code [slots, kvH, d]}
     * @param valueCache the layer's value cache {@code [slots, kvH, d]}
     * @param contextSlots int64 {@code [B, S]}: row {@code b} holds sequence {@code b}'s cache slots in position
     *     order, then any valid slot as padding up to {@code S = max(lengths)}
     * @param lengths each sequence's context length, its new token included ({@code 1..S})
     * @return {@code [B, H, d]}
     */
    default Tensor pagedDecodeAttention(
            Tensor q, Tensor keyCache, Tensor valueCache, Tensor contextSlots, int[] lengths, float scale) {
        checkDecodeBatch(q, contextSlots, lengths);
        long s = contextSlots.dim(1);
        List<Tensor> outs = new ArrayList<>(lengths.length);
        for (int i = 0; i < lengths.length; i++) {
            Tensor slots = slice(reshape(slice(contextSlots, 0, i, i + 1), s), 0, 0, lengths[i]); // [len]
            outs.add(pagedAttention(
                    slice(q, 0, i, i + 1), null, null, keyCache, valueCache, slots, lengths[i] - 1, scale));
        }
        return outs.size() == 1 ? outs.getFirst() : concat(outs, 0);
    }

    /**
     * What {@link #pagedDecodeAttention} requires of its operands: one slot row and one length per query, each
     * length in {@code 1..S}.
     */
    static void checkDecodeBatch(Tensor q, Tensor contextSlots, int[] lengths) {
        long b = q.dim(0);
        long s = contextSlots.dim(1);
        if (lengths.length != b || contextSlots.dim(0) != b) {
            throw new IllegalArgumentException("decode attention: " + b + " queries, " + lengths.length + " lengths, "
                    + contextSlots.dim(0) + " slot rows");
        }
        for (int length : lengths) {
            if (length < 1 || length > s) {
                throw new IllegalArgumentException("decode attention: length " + length + " outside 1.." + s);
            }
        }
    }

    /**
     * Block-diagonal (variable-length) attention without a mask: tokens {@code cuSeqlens[i]..cuSeqlens[i+1]}
     * attend only to each other (the vision tower's per-image and per-window attention; flash-attention's
     * {@code varlen} with {@code cu_seqlens}).
     *
     * @param q {@code [H, N, d]}
     * @param k {@code [H, N, d]}
     * @param v {@code [H, N, d]}
     * @param cuSeqlens cumulative boundaries {@code [0, ..., N]}, non-decreasing
     * @return {@code [H, N, d]}
     */
    default Tensor varlenAttention(Tensor q, Tensor k, Tensor v, int[] cuSeqlens, float scale) {
        List<Tensor> parts = new ArrayList<>(cuSeqlens.length - 1);
        for (int s = 0; s + 1 < cuSeqlens.length; s++) {
            int a = cuSeqlens[s];
            int b = cuSeqlens[s + 1];
            parts.add(attention(slice(q, 1, a, b), slice(k, 1, a, b), slice(v, 1, a, b), null, scale)); // [H, len, d]
        }
        return parts.size() == 1 ? parts.getFirst() : concat(parts, 1); // [H, N, d]
    }

    /**
     * {@link #varlenAttention} of q and k after the {@link #rotary} embedding, v as it is: the Qwen-VL vision tower's
     * attention. A backend may fold the rotary into its attention kernel, so that q and k are never written out
     * rotated.
     *
     * @param cos {@code [N, d]}: token t's angles, the same for every head (as {@code sin})
     * @return {@code [H, N, d]}
     */
    default Tensor rotaryVarlenAttention(
            Tensor q, Tensor k, Tensor v, Tensor cos, Tensor sin, int[] cuSeqlens, float scale) {
        return varlenAttention(rotary(q, cos, sin), rotary(k, cos, sin), v, cuSeqlens, scale);
    }

    /**
     * Rotary embedding in the rotate-half layout: {@code x·cos + rotate_half(x)·sin}, where
     * {@code rotate_half([x1, x2]) = [-x2, x1]} splits the last axis in two; tables broadcast against x.
     */
    default Tensor rotary(Tensor x, Tensor cos, Tensor sin) {
        long half = x.dim(-1) / 2;
        Tensor x1 = slice(x, -1, 0, half);
        Tensor x2 = slice(x, -1, half, 2 * half);
        Tensor rotated = concat(List.of(neg(x2), x1), -1);
        return add(mul(x, cos), mul(rotated, sin));
    }

    default Tensor permuteLastTwo(Tensor a) {
        int r = a.rank();
        int[] axes = new int[r];
        for (int i = 0; i < r; i++) {
            axes[i] = i;
        }
        axes[r - 1] = r - 2;
        axes[r - 2] = r - 1;
        return permute(a, axes);
    }
}
