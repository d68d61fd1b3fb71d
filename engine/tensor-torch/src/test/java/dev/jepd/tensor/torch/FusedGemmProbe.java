package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Not a test: the gated MLP at the Qwen2.5-VL-3B vision tower's and a 512-token prefill's shapes, fused ({@code
 * linearSiluMul}: one pass of JEPD's AMX GEMM) against the same ops one by one ({@code siluMul(linear, linear)}),
 * alternated call by call over a ring of four weights, random bf16 data; medians of 9 in milliseconds.
 *
 * <pre>java ... dev.jepd.tensor.torch.FusedGemmProbe</pre>
 */
public final class FusedGemmProbe {
    private FusedGemmProbe() {}

    private record Shape(String what, int m, int n, int k, boolean bias) {}

    private static float[] random(int n, SplittableRandom r) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextDouble() * 2 - 1);
        }
        return a;
    }

    public static void main(String[] args) {
        List<Shape> shapes = List.of(
                new Shape("vision MLP: gate, up [1024, 1280] · [3420, 1280]ᵀ + b", 1024, 3420, 1280, true),
                new Shape("prefill MLP: gate, up [512, 2048] · [11008, 2048]ᵀ", 512, 11008, 2048, false));
        SplittableRandom r = new SplittableRandom(9);
        TorchBackend backend = TorchBackend.cpu(DType.BF16);
        backend.warmUp(); // the Java kernels' background warm-up holds the pool and a CPU until it is done
        System.out.println("fused ops: " + (TorchOps.AMX_FUSED ? "on" : "off (they run as the ops one by one)"));
        try (Scope s = backend.open()) {
            Ops o = backend.ops(s);
            {
                for (Shape sh : shapes) {
                    Tensor x = o.fromFloats(random(sh.m() * sh.k(), r), sh.m(), sh.k());
                    List<Tensor[]> ring = new ArrayList<>();
                    for (int i = 0; i < 4; i++) {
                        ring.add(new Tensor[] {
                            o.fromFloats(random(sh.n() * sh.k(), r), sh.n(), sh.k()),
                            o.fromFloats(random(sh.n() * sh.k(), r), sh.n(), sh.k()),
                            sh.bias() ? o.fromFloats(random(sh.n(), r), sh.n()) : null,
                            sh.bias() ? o.fromFloats(random(sh.n(), r), sh.n()) : null
                        });
                    }
                    double[] fused = new double[9];
                    double[] apart = new double[9];
                    for (int i = -2; i < fused.length; i++) {
                        Tensor[] w = ring.get(Math.floorMod(i, 4));
                        for (int variant = 0; variant < 2; variant++) {
                            try (Scope step = backend.open()) {
                                Ops so = backend.ops(step);
                                long t0 = System.nanoTime();
                                if (variant == 0) {
                                    so.linearSiluMul(x, w[0], w[2], w[1], w[3]);
                                } else {
                                    so.siluMul(so.linear(x, w[0], w[2]), so.linear(x, w[1], w[3]));
                                }
                                double ms = (System.nanoTime() - t0) / 1e6;
                                if (i >= 0) {
                                    (variant == 0 ? fused : apart)[i] = ms;
                                }
                            }
                        }
                    }
                    Arrays.sort(fused);
                    Arrays.sort(apart);
                    System.out.printf("%-58s fused %6.2f ms   one by one %6.2f ms%n", sh.what(), fused[4], apart[4]);
                }
            }
        }
    }
}
