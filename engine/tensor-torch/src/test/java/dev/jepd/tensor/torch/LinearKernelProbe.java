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
 * Not a test: decode's one-row product against {@code k} distinct [11008, 2048] matrices (Qwen2.5-VL-3B's
 * MLP), in bf16 and f32, by three kernels interleaved: {@code mv} ({@code aten::mv}), {@code mm} at M=1
 * ({@code x · Wᵀ} with Wᵀ a view, oneDNN/MKL GEMM) and {@code mm} at M=2; prints GB/s of weights read for
 * five rounds. This is the measurement behind {@code TorchOps.linear}'s choice of kernel.
 */
public final class LinearKernelProbe {
    private LinearKernelProbe() {}

    public static void main(String[] args) {
        int k = args.length > 0 ? Integer.parseInt(args[0]) : 12;
        int out = 11008;
        int in = 2048;
        TorchBackend backend = TorchBackend.cpu(null);
        AotiShim shim = AotiShim.shared();
        for (DType dt : List.of(DType.BF16, DType.F32)) {
            try (Scope s = backend.open();
                    Arena arena = Arena.ofConfined()) {
                Ops t = backend.ops(s);
                MemorySegment w = arena.allocate((long) dt.byteSize() * out * in);
                for (long i = 0; i < (long) out * in; i++) {
                    dt.setFloat(w, i, 0.001f * (i % 7));
                }
                List<Tensor> ring = new ArrayList<>();
                for (int i = 0; i < k; i++) {
                    ring.add(t.load(w, dt, out, in));
                }
                MemorySegment xs = arena.allocate((long) dt.byteSize() * in);
                for (int i = 0; i < in; i++) {
                    dt.setFloat(xs, i, 1f);
                }
                Tensor x1 = t.load(xs, dt, 1, in);
                Tensor x2 = t.concat(List.of(x1, x1), 0);
                Tensor xv = t.reshape(x1, in);
                double bytes = (double) k * out * in * dt.byteSize();
                for (int round = 0; round < 5; round++) {
                    for (int m = 0; m < 3; m++) {
                        long t0 = System.nanoTime();
                        try (Scope q = s.child()) {
                            Ops tq = backend.ops(q);
                            for (Tensor wi : ring) {
                                switch (m) {
                                    case 0 -> tq.matmul(wi, xv); // aten::matmul of [out, in] and [in]: mv
                                    case 1 -> tq.matmul(x1, tq.permute(wi, 1, 0)); // mm at M=1
                                    default -> tq.matmul(x2, tq.permute(wi, 1, 0)); // mm at M=2
                                }
                            }
                        }
                        double sec = (System.nanoTime() - t0) / 1e9;
                        String name = m == 0 ? "mv(W, x)" : m == 1 ? "mm(x, W^T), M=1" : "mm(x, W^T), M=2";
                        System.out.printf("%s %-18s %6.1f GB/s%n", dt, name, bytes / sec / 1e9);
                    }
                }
            }
        }
        System.out.println(shim.location());
    }
}
