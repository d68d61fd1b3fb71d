package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.util.Arrays;

/**
 * Not a test: the vision MLP's {@code silu(gate) · up} on {@code [1024, 3420]} and the vision tower's rotary on q and
 * k ({@code [32, 1024, 80]}, a permuted view of the qkv product), JEPD's one-pass kernels against libtorch's
 * composition, alternated call by call; medians of {@code n} calls in ms, each into fresh memory as in the model.
 *
 * <pre>java ... dev.jepd.tensor.torch.ElementwiseProbe [n]</pre>
 */
public final class ElementwiseProbe {
    private ElementwiseProbe() {}

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 21;
        TorchBackend backend = TorchBackend.cpu(DType.BF16);
        try (Scope s = backend.open()) {
            backend.warmUp();
            Ops o = backend.ops(s);
            float[] a = new float[1024 * 3420];
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) Math.sin(i * 0.001) * 4;
            }
            Tensor g = o.fromFloats(a, 1024, 3420);
            Tensor u = o.fromFloats(a, 1024, 3420);
            Tensor qkv = o.permute(o.fromFloats(Arrays.copyOf(a, 1024 * 3 * 16 * 80), 1024, 3, 16, 80), 1, 2, 0, 3);
            Tensor qk = o.reshape(o.slice(qkv, 0, 0, 2), 32, 1024, 80);
            Tensor cos = o.fromFloats(Arrays.copyOf(a, 1024 * 80), 1024, 80);
            Tensor sin = o.fromFloats(Arrays.copyOfRange(a, 7, 7 + 1024 * 80), 1024, 80);
            double[][] t = new double[4][n];
            for (int i = -3; i < n; i++) {
                double[] r = new double[4];
                r[0] = time(backend, so -> so.siluMul(g, u));
                r[1] = time(backend, so -> so.mul(so.silu(g), u));
                r[2] = time(backend, so -> so.rotary(qk, cos, sin));
                r[3] = time(backend, so -> {
                    Tensor swapped =
                            so.concat(java.util.List.of(so.slice(qk, -1, 40, 80), so.slice(qk, -1, 0, 40)), -1);
                    Tensor signed = so.concat(
                            java.util.List.of(so.neg(so.slice(sin, -1, 0, 40)), so.slice(sin, -1, 40, 80)), -1);
                    return so.add(so.mul(qk, cos), so.mul(swapped, signed));
                });
                for (int k = 0; i >= 0 && k < 4; k++) {
                    t[k][i] = r[k];
                }
            }
            String[] what = {"siluMul, JEPD", "silu then mul, libtorch", "rotary, JEPD", "rotary, libtorch composed"};
            for (int k = 0; k < 4; k++) {
                Arrays.sort(t[k]);
                System.out.printf("%-28s %7.2f ms%n", what[k], t[k][n / 2]);
            }
        }
    }

    private static double time(TorchBackend backend, java.util.function.Function<Ops, Tensor> op) {
        try (Scope step = backend.open()) {
            long t0 = System.nanoTime();
            op.apply(backend.ops(step));
            return (System.nanoTime() - t0) / 1e6;
        }
    }
}
