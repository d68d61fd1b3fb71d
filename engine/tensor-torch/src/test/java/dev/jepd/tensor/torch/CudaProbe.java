package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.util.Arrays;

/**
 * {@code CudaProbe DEVICE}: a few ops of every kind the models run, in float32 and bf16, each reported
 * PASS or FAIL with libtorch's reason; exit 0 when all pass. run.sh of the GPU package runs it first.
 */
public final class CudaProbe {
    private CudaProbe() {}

    public static void main(String[] args) {
        Device d = Device.parse(args.length > 0 ? args[0] : "cuda:0");
        int failed = 0;
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            try (TorchBackend b = TorchBackend.on(d, t)) {
                failed += probe(b, t + " zeros", o -> o.zeros(1024));
                failed += probe(b, t + " fromFloats+scale", o -> o.scale(o.fromFloats(new float[] {1, 2, 3}, 3), 2));
                failed += probe(b, t + " linear", o -> o.linear(o.zeros(4, 64), o.zeros(32, 64), null));
                failed += probe(b, t + " rmsNorm", o -> o.rmsNorm(o.addScalar(o.zeros(4, 64), 1), o.zeros(64), 1e-6f));
                for (int hd : new int[] {16, 80, 128}) {
                    failed += probe(b, t + " attention d=" + hd, o -> {
                        Tensor q = o.addScalar(o.zeros(2, 64, hd), 0.5f);
                        return o.attention(q, q, q, null, 0.1f);
                    });
                    failed += probe(b, t + " masked attention d=" + hd, o -> {
                        Tensor q = o.addScalar(o.zeros(2, 8, hd), 0.5f);
                        return o.attention(q, q, q, o.zeros(8, 8), 0.1f);
                    });
                }
                b.synchronize();
            } catch (RuntimeException e) {
                System.out.println("FAIL " + t + " backend: " + e);
                failed++;
            }
        }
        System.out.println(failed == 0 ? "PROBE OK" : "PROBE FAILED " + failed);
        System.exit(failed == 0 ? 0 : 1);
    }

    private static int probe(TorchBackend b, String what, java.util.function.Function<Ops, Tensor> op) {
        try (Scope s = b.open()) {
            float[] r = op.apply(b.ops(s)).toFloats();
            System.out.println("PASS " + what + " " + Arrays.toString(Arrays.copyOf(r, Math.min(3, r.length))));
            return 0;
        } catch (RuntimeException e) {
            System.out.println("FAIL " + what + ": " + e.getMessage());
            return 1;
        }
    }
}
