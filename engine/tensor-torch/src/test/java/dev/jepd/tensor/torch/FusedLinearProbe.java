package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;

/**
 * Not a test: {@code linearGelu} (libtorch's {@code _addmm_activation}, the GELU on the product in place) against
 * {@code linear} then the composed {@code gelu}, next to {@code linear} alone, at the vision mergers' and MLPs'
 * shapes; the variants alternate call by call, medians of {@code args[0]} calls each (default 9).
 */
public final class FusedLinearProbe {
    private FusedLinearProbe() {}

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 9;
        TorchBackend backend = TorchBackend.cpu(DType.BF16);
        int[][] shapes = {{256, 5120, 5120}, {1024, 1280, 3420}, {512, 2048, 11008}};
        String[] names = {"linear", "linear, then gelu", "linearGelu"};
        try (Scope s = backend.open()) {
            TorchOps o = (TorchOps) backend.ops(s);
            for (int[] sh : shapes) {
                int m = sh[0];
                int in = sh[1];
                int out = sh[2];
                Tensor x = o.fromFloats(fill(m * in, 1), m, in);
                Tensor w = o.fromFloats(fill(out * in, 2), out, in);
                Tensor b = o.fromFloats(fill(out, 3), out);
                double[][] t = new double[names.length][reps];
                for (int r = -2; r < reps; r++) {
                    for (int i = 0; i < names.length; i++) {
                        try (Scope step = backend.open()) {
                            TorchOps so = (TorchOps) backend.ops(step);
                            long t0 = System.nanoTime();
                            switch (i) {
                                case 0 -> so.linear(x, w, b);
                                case 1 -> so.gelu(so.linear(x, w, b));
                                default -> so.linearGelu(x, w, b);
                            }
                            if (r >= 0) {
                                t[i][r] = (System.nanoTime() - t0) / 1e9;
                            }
                        }
                    }
                }
                double flops = 2.0 * m * in * out;
                for (int i = 0; i < names.length; i++) {
                    java.util.Arrays.sort(t[i]);
                    System.out.printf(
                            "[%d, %d] · [%d, %d]ᵀ + b  %-18s %7.1f GFLOP/s (%.2f ms)%n",
                            m, in, out, in, names[i], flops / t[i][reps / 2] / 1e9, t[i][reps / 2] * 1e3);
                }
            }
        }
    }

    private static float[] fill(int n, long seed) {
        float[] a = new float[n];
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextDouble() * 2 - 1) * 0.1f;
        }
        return a;
    }
}
