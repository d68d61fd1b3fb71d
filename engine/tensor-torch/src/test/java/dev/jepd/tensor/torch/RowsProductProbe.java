package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Not a test: {@code linear} of {@code rows} bf16 rows against a ring of {@code k} distinct {@code [out, in]} matrices
 * (default 24 × [11008, 2048], ~1 GB, so that no weight is in a cache), seven rounds, GB/s of weights read. Run it
 * with {@code -Djepd.amx=false} for libtorch's oneDNN on the same products.
 *
 * <pre>java ... dev.jepd.tensor.torch.RowsProductProbe [rows [k [out [in]]]]</pre>
 */
public final class RowsProductProbe {
    private RowsProductProbe() {}

    public static void main(String[] args) {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 8;
        int k = args.length > 1 ? Integer.parseInt(args[1]) : 24;
        int out = args.length > 2 ? Integer.parseInt(args[2]) : 11008;
        int in = args.length > 3 ? Integer.parseInt(args[3]) : 2048;
        try (TorchBackend backend = TorchBackend.cpu(null);
                Scope s = backend.open();
                Arena arena = Arena.ofConfined()) {
            backend.warmUp();
            Ops t = backend.ops(s);
            MemorySegment w = arena.allocate(2L * out * in);
            for (long i = 0; i < (long) out * in; i++) {
                DType.BF16.setFloat(w, i, 0.001f * (i % 7));
            }
            List<Tensor> ring = new ArrayList<>();
            for (int i = 0; i < k; i++) {
                ring.add(t.load(w, DType.BF16, out, in));
            }
            MemorySegment xs = arena.allocate(2L * rows * in);
            for (int i = 0; i < rows * in; i++) {
                DType.BF16.setFloat(xs, i, 0.01f * (i % 5));
            }
            Tensor x = t.load(xs, DType.BF16, rows, in);
            System.out.println("AMX products: " + (Bf16Amx.AVAILABLE ? "on" : Bf16Amx.UNAVAILABLE_BECAUSE));
            for (int round = 0; round < 7; round++) {
                long t0 = System.nanoTime();
                for (Tensor wt : ring) {
                    try (Scope inner = backend.open()) {
                        backend.ops(inner).linear(x, wt, null);
                    }
                }
                double sec = (System.nanoTime() - t0) / 1e9;
                System.out.printf(
                        "[%d, %d] · [%d, %d]ᵀ × %d: %.1f GB/s%n", rows, in, out, in, k, 2.0 * out * in * k / sec / 1e9);
            }
        }
    }
}
