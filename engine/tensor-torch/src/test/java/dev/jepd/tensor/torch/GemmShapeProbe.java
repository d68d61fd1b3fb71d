package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.util.List;

/**
 * Not a test: bf16 {@code linear} ({@code x · Wᵀ + b}) at the shapes the Qwen2.5-VL-3B vision tower and a 512-token
 * prefill run, next to the square 2048³ product that {@code bench model}'s GEMM probe measures, in GFLOP/s (median
 * of 7 after 3 warm-ups). It says which of the model's GEMMs fall short of the probe and by how much; with a ring
 * of distinct weights ({@code args[0]}), each product reads a weight that is not in the cache from the last one.
 */
public final class GemmShapeProbe {
    private GemmShapeProbe() {}

    private static float[] fill(int n, boolean random) {
        float[] a = new float[n];
        if (random) {
            java.util.SplittableRandom r = new java.util.SplittableRandom(n);
            for (int i = 0; i < n; i++) {
                a[i] = (float) (r.nextDouble() * 2 - 1);
            }
        }
        return a;
    }

    /**
     * {@code m} rows of x, {@code n} outputs, {@code k} inputs, with or without a bias; {@code gated}: the gated MLP's
     * {@code linearSiluMul} (two such products and their SiLU·mul).
     */
    private record Shape(String what, int m, int n, int k, boolean bias, boolean gated) {
        Shape(String what, int m, int n, int k, boolean bias) {
            this(what, m, n, k, bias, false);
        }
    }

    /** {@code args[0]}: how many distinct weight copies to cycle through (default 1: one weight, kept hot). */
    public static void main(String[] args) {
        int ring = args.length > 0 ? Integer.parseInt(args[0]) : 1;
        boolean between = args.length > 1 && args[1].equals("interleaved"); // an elementwise op before each product
        boolean random = args.length > 2 && args[2].equals("random"); // N(0, 1) data instead of zeros
        List<Shape> shapes = List.of(
                new Shape("probe: 2048³, no bias", 2048, 2048, 2048, false),
                new Shape("vision qkv [1024, 1280] · [3840, 1280]ᵀ + b", 1024, 3840, 1280, true),
                new Shape("vision proj [1024, 1280] · [1280, 1280]ᵀ + b", 1024, 1280, 1280, true),
                new Shape("vision gate/up [1024, 1280] · [3420, 1280]ᵀ + b", 1024, 3420, 1280, true),
                new Shape("vision down [1024, 3420] · [1280, 3420]ᵀ + b", 1024, 1280, 3420, true),
                new Shape("vision MLP silu(x·Gᵀ + b)·(x·Uᵀ + b), [3420, 1280]", 1024, 3420, 1280, true, true),
                new Shape("vision merger fc1 [256, 5120] · [5120, 5120]ᵀ + b", 256, 5120, 5120, true),
                new Shape("prefill q [512, 2048] · [2048, 2048]ᵀ + b", 512, 2048, 2048, true),
                new Shape("prefill gate/up [512, 2048] · [11008, 2048]ᵀ", 512, 11008, 2048, false),
                new Shape("prefill down [512, 11008] · [2048, 11008]ᵀ", 512, 2048, 11008, false),
                new Shape("prefill MLP silu(x·Gᵀ)·(x·Uᵀ), [11008, 2048]", 512, 11008, 2048, false, true),
                new Shape("decode batch 32 up [32, 2048] · [11008, 2048]ᵀ", 32, 11008, 2048, false),
                new Shape("decode batch 24 up [24, 2048] · [11008, 2048]ᵀ", 24, 11008, 2048, false),
                new Shape("64 rows [64, 2048] · [11008, 2048]ᵀ", 64, 11008, 2048, false),
                new Shape("128 rows [128, 2048] · [11008, 2048]ᵀ", 128, 11008, 2048, false));
        TorchBackend backend = TorchBackend.cpu(DType.BF16);
        backend.warmUp(); // the Java kernels' background warm-up holds the pool and a CPU until it is done
        try (Scope s = backend.open()) {
            Ops o = backend.ops(s);
            for (Shape sh : shapes) {
                Tensor x = o.fromFloats(fill(sh.m() * sh.k(), random), sh.m(), sh.k());
                List<Tensor> ws = new java.util.ArrayList<>();
                for (int r = 0; r < ring; r++) {
                    ws.add(o.fromFloats(fill(sh.n() * sh.k(), random), sh.n(), sh.k()));
                }
                Tensor b = sh.bias() ? o.fromFloats(fill(sh.n(), random), sh.n()) : null;
                double[] t = new double[7];
                for (int i = -3; i < t.length; i++) {
                    try (Scope step = backend.open()) {
                        Ops so = backend.ops(step);
                        if (between) {
                            so.silu(x); // untimed: non-AMX work between the products, as in the model
                        }
                        long t0 = System.nanoTime();
                        Tensor w = ws.get(Math.floorMod(i, ring));
                        if (sh.gated()) { // the weight twice: the same work as two distinct ones
                            so.linearSiluMul(x, w, b, w, b);
                        } else {
                            so.linear(x, w, b); // on the CPU: returns when done
                        }
                        if (i >= 0) {
                            t[i] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                }
                java.util.Arrays.sort(t);
                double flops = 2.0 * sh.m() * sh.n() * sh.k() * (sh.gated() ? 2 : 1);
                System.out.printf("%-52s %8.1f GFLOP/s  (%.2f ms)%n", sh.what(), flops / t[3] / 1e9, t[3] * 1e3);
            }
        }
    }
}
