package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Not a test: the LM head of a batch-8 decode step, {@code [8, 2048] · [151936, 2048]ᵀ} in bf16 (622 MB of weight),
 * as one {@code linear} and cut along the vocabulary into {@code args[1]} products whose outputs are concatenated;
 * alternated call by call, GB/s of weight read at the median of {@code args[0]} calls (default 7).
 */
public final class LmHeadProbe {
    private LmHeadProbe() {}

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        int pieces = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        int rows = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        int vocab = 151936;
        int hidden = 2048;
        TorchBackend backend = TorchBackend.cpu(DType.BF16);
        try (Scope s = backend.open()) {
            TorchOps o = (TorchOps) backend.ops(s);
            float[] wv = new float[vocab * hidden];
            java.util.SplittableRandom r = new java.util.SplittableRandom(1);
            for (int i = 0; i < wv.length; i++) {
                wv[i] = (float) (r.nextDouble() * 0.1 - 0.05);
            }
            Tensor w = o.fromFloats(wv, vocab, hidden);
            wv = null;
            float[] xv = new float[rows * hidden];
            for (int i = 0; i < xv.length; i++) {
                xv[i] = (float) (r.nextDouble() * 2 - 1);
            }
            Tensor x = o.fromFloats(xv, rows, hidden);
            List<Tensor> parts = new ArrayList<>();
            long per = (vocab + pieces - 1) / pieces;
            for (long from = 0; from < vocab; from += per) {
                parts.add(o.slice(w, 0, from, Math.min(vocab, from + per)));
            }
            double[][] t = new double[2][reps];
            for (int i = -2; i < reps; i++) {
                for (int v = 0; v < 2; v++) {
                    try (Scope step = backend.open()) {
                        TorchOps so = (TorchOps) backend.ops(step);
                        long t0 = System.nanoTime();
                        if (v == 0) {
                            so.linear(x, w, null);
                        } else {
                            List<Tensor> outs = new ArrayList<>();
                            for (Tensor p : parts) {
                                outs.add(so.linear(x, p, null));
                            }
                            so.concat(outs, 1);
                        }
                        if (i >= 0) {
                            t[v][i] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                }
            }
            double bytes = 2.0 * vocab * hidden;
            String[] names = {"one linear", pieces + " pieces + concat"};
            for (int v = 0; v < 2; v++) {
                java.util.Arrays.sort(t[v]);
                System.out.printf(
                        "[%d, %d] · [%d, %d]ᵀ %-22s %6.2f ms  %5.1f GB/s%n",
                        rows, hidden, vocab, hidden, names[v], t[v][reps / 2] * 1e3, bytes / t[v][reps / 2] / 1e9);
            }
        }
    }
}
