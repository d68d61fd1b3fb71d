package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Not a test: {@code pagedAttention} for a fresh causal prefill at the Qwen2.5-VL-3B decoder's shape (16 query heads
 * over 2 KV heads, head size 128; {@code args[0]} tokens, 512 by default), median and best of 15 in ms; then the
 * same with each KV head's keys and values repeated for its 8 query heads (16 KV heads, no zero-stride views).
 *
 * <pre>java ... dev.jepd.tensor.torch.PrefillAttentionProbe [tokens]</pre>
 */
public final class PrefillAttentionProbe {
    private PrefillAttentionProbe() {}

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 512;
        int heads = 16;
        int kvHeads = 2;
        int d = 128;
        SplittableRandom r = new SplittableRandom(1);
        TorchBackend backend = TorchBackend.cpu(DType.BF16);
        backend.warmUp();
        try (Scope s = backend.open()) {
            Ops o = backend.ops(s);
            Tensor q = o.fromFloats(random(r, n * heads * d), n, heads, d);
            long[] slots = new long[n];
            for (int i = 0; i < n; i++) {
                slots[i] = i;
            }
            Tensor slotT = o.fromLongs(slots, n);
            for (int kvh : new int[] {kvHeads, heads}) {
                Tensor k = o.fromFloats(random(r, n * kvh * d), n, kvh, d);
                Tensor v = o.fromFloats(random(r, n * kvh * d), n, kvh, d);
                double[] t = new double[15];
                for (int i = -3; i < t.length; i++) {
                    try (Scope step = backend.open()) {
                        Ops so = backend.ops(step);
                        long t0 = System.nanoTime();
                        so.pagedAttention(q, k, v, k, v, slotT, 0, (float) (1 / Math.sqrt(d)));
                        if (i >= 0) {
                            t[i] = (System.nanoTime() - t0) / 1e6;
                        }
                    }
                }
                Arrays.sort(t);
                System.out.printf(
                        "%d tokens, %d heads over %d KV heads, d %d: median %.2f ms, best %.2f ms%n",
                        n, heads, kvh, d, t[t.length / 2], t[0]);
            }
        }
    }

    private static float[] random(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextDouble() * 2 - 1);
        }
        return a;
    }
}
