package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Not a test: {@code varlenAttention} at the Qwen2.5-VL-3B vision tower's windowed blocks (16 heads, 1,024 tokens in
 * 16 windows of 64, head size 80, q, k and v strided views of the qkv product): median and best of 21 in ms. Run it
 * with {@code -Djepd.native.attention=false} for libtorch's flash attention.
 *
 * <pre>java ... dev.jepd.tensor.torch.WindowAttentionProbe</pre>
 */
public final class WindowAttentionProbe {
    private WindowAttentionProbe() {}

    public static void main(String[] args) {
        int heads = 16;
        int n = 1024;
        int d = 80;
        int[] cu = new int[17];
        for (int i = 0; i < cu.length; i++) {
            cu[i] = 64 * i;
        }
        SplittableRandom r = new SplittableRandom(1);
        float[] data = new float[n * 3 * heads * d];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) (r.nextDouble() * 4 - 2);
        }
        TorchBackend backend = TorchBackend.cpu(DType.BF16);
        backend.warmUp(); // the Java kernels' background warm-up holds the pool and a CPU until it is done
        try (Scope s = backend.open()) {
            Ops o = backend.ops(s);
            Tensor qkv = o.permute(o.fromFloats(data, n, 3, heads, d), 1, 2, 0, 3);
            Tensor q = o.reshape(o.slice(qkv, 0, 0, 1), heads, n, d);
            Tensor k = o.reshape(o.slice(qkv, 0, 1, 2), heads, n, d);
            Tensor v = o.reshape(o.slice(qkv, 0, 2, 3), heads, n, d);
            Tensor cos = o.fromFloats(Arrays.copyOf(data, n * d), n, d);
            Tensor sin = o.fromFloats(Arrays.copyOfRange(data, 5, 5 + n * d), n, d);
            float scale = (float) (1 / Math.sqrt(d));
            // alternated call by call: the attention alone, with the rotary inside, the rotary ops then the attention
            double[][] t = new double[3][21];
            for (int i = -5; i < t[0].length; i++) {
                for (int variant = 0; variant < 3; variant++) {
                    try (Scope step = backend.open()) {
                        Ops so = backend.ops(step);
                        long t0 = System.nanoTime();
                        switch (variant) {
                            case 0 -> so.varlenAttention(q, k, v, cu, scale);
                            case 1 -> so.rotaryVarlenAttention(q, k, v, cos, sin, cu, scale);
                            default -> so.varlenAttention(so.rotary(q, cos, sin), so.rotary(k, cos, sin), v, cu, scale);
                        }
                        if (i >= 0) {
                            t[variant][i] = (System.nanoTime() - t0) / 1e6;
                        }
                    }
                }
            }
            String[] what = {"varlenAttention", "rotaryVarlenAttention", "rotary ×2, then varlenAttention"};
            for (int variant = 0; variant < 3; variant++) {
                Arrays.sort(t[variant]);
                System.out.printf(
                        "%-32s [16, 1024, 80] in 16 windows of 64 (%s): median %.2f ms, best %.2f ms%n",
                        what[variant],
                        TorchOps.NATIVE_ATTENTION && Bf16SegmentAttention.AVAILABLE ? "JEPD's kernel" : "libtorch",
                        t[variant][10],
                        t[variant][0]);
            }
        }
    }
}
