package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;

/**
 * Not a test: does the bf16 GEMM rate depend on the operands' values? A 2048³ {@code linear} on constant operands (as
 * {@code bench model}'s probe made them until 2026-12-05), on zeros and on uniform random values in [-1, 1),
 * alternating round by round in one process; the median of each kind's samples.
 */
public final class GemmDataProbe {
    private GemmDataProbe() {}

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        int n = 2048;
        TorchBackend backend = TorchBackend.cpu(DType.BF16);
        try (Scope s = backend.open()) {
            Ops o = backend.ops(s);
            String[] kinds = {"constant 0.5 · 0.25", "zeros", "random [-1, 1)"};
            Tensor[][] ab = {
                {o.addScalar(o.zeros(n, n), 0.5f), o.addScalar(o.zeros(n, n), 0.25f)},
                {o.addScalar(o.zeros(n, n), 0f), o.addScalar(o.zeros(n, n), 0f)},
                {o.fromFloats(random(n * n, 1), n, n), o.fromFloats(random(n * n, 2), n, n)}
            };
            double[][] t = new double[kinds.length][rounds * 3];
            for (int r = -1; r < rounds; r++) {
                for (int k = 0; k < kinds.length; k++) {
                    for (int i = 0; i < 3; i++) {
                        try (Scope step = backend.open()) {
                            long t0 = System.nanoTime();
                            backend.ops(step).linear(ab[k][0], ab[k][1], null);
                            if (r >= 0) {
                                t[k][r * 3 + i] = (System.nanoTime() - t0) / 1e9;
                            }
                        }
                    }
                }
            }
            for (int k = 0; k < kinds.length; k++) {
                java.util.Arrays.sort(t[k]);
                double flops = 2.0 * n * n * n;
                System.out.printf(
                        "%-22s median %7.1f GFLOP/s, best %7.1f%n",
                        kinds[k], flops / t[k][t[k].length / 2] / 1e9, flops / t[k][0] / 1e9);
            }
        }
    }

    private static float[] random(int n, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextDouble() * 2 - 1);
        }
        return a;
    }
}
