package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;

/** Not a test: {@link Bf16Rows}' RMSNorm against libtorch's composition at a vision block's shape, per call. */
public final class RowKernelProbe {
    private RowKernelProbe() {}

    interface Op {
        Tensor run(TorchOps o);
    }

    /** {@code args[0]}: timed calls per op (as many again to warm up), default 50; {@code args[1]}: ms to wait first. */
    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 50;
        TorchBackend backend = TorchBackend.cpu(DType.BF16);
        if (args.length > 1) { // as loading a bf16 model would: warm the kernels up, and give it this long first
            Bf16Rows.warmUpInBackground();
            try {
                Thread.sleep(Long.parseLong(args[1]));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try (Scope s = backend.open()) {
            TorchOps o = (TorchOps) backend.ops(s);
            Tensor x = o.fromFloats(fill(1024 * 1280), 1024, 1280);
            Tensor w = o.fromFloats(fill(1280), 1280);
            try (Scope first = backend.open()) {
                long t0 = System.nanoTime();
                ((TorchOps) backend.ops(first)).rmsNorm(x, w, 1e-6f);
                System.out.printf(
                        "rmsNorm [1024, 1280], Bf16Rows, the JVM's first call: %.1f ms%n",
                        (System.nanoTime() - t0) / 1e6);
            }
            time("rmsNorm [1024, 1280], Bf16Rows", reps, backend, t -> t.rmsNorm(x, w, 1e-6f));
            time("rmsNorm [1024, 1280], libtorch", reps, backend, t -> t.torchRmsNorm(x, w, 1e-6f));
        }
    }

    private static void time(String what, int reps, TorchBackend backend, Op op) {
        double[] t = new double[reps];
        for (int i = -reps; i < reps; i++) {
            try (Scope step = backend.open()) {
                TorchOps so = (TorchOps) backend.ops(step);
                long t0 = System.nanoTime();
                op.run(so);
                if (i >= 0) {
                    t[i] = (System.nanoTime() - t0) / 1e6;
                }
            }
        }
        java.util.Arrays.sort(t);
        System.out.printf("%-36s median %.3f ms, best %.3f ms%n", what, t[reps / 2], t[0]);
    }

    private static float[] fill(int n) {
        float[] a = new float[n];
        java.util.SplittableRandom r = new java.util.SplittableRandom(n);
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextDouble() * 4 - 2);
        }
        return a;
    }
}
