package dev.jepd.tensor.torch;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Not a test: prints the peak-RSS growth of one full-attention {@code varlenAttention} over {@code N}
 * tokens (16 heads, d = 80, bf16: the Qwen2.5-VL vision tower's full-attention block on a 1448² image is
 * N = 10609), next to the size a materialised score matrix would have. docs/PERF.md has the command.
 */
public final class AttentionMemoryProbe {
    private AttentionMemoryProbe() {}

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 10609;
        int h = 16;
        int d = 80;
        try (TorchBackend backend = TorchBackend.cpu(DType.BF16);
                Scope s = backend.open()) {
            Ops t = backend.ops(s);
            Tensor q = t.addScalar(t.zeros(h, n, d), 0.01f);
            Tensor k = t.addScalar(t.zeros(h, n, d), 0.02f);
            long before = peakRssKb();
            long t0 = System.nanoTime();
            t.varlenAttention(q, k, k, new int[] {0, n}, 0.1118f);
            double sec = (System.nanoTime() - t0) / 1e9;
            long after = peakRssKb();
            System.out.printf(
                    "full attention over %d tokens, %d heads, d=%d, bf16 (%s): %.1f s; peak RSS %d MB -> %d MB (+%d MB);"
                            + " q, k, v and the output are %d MB each; an [H, N, N] f32 score matrix would be %d MB%n",
                    n,
                    h,
                    d,
                    backend.name(),
                    sec,
                    before / 1024,
                    after / 1024,
                    (after - before) / 1024,
                    (long) h * n * d * 2 / 1_000_000,
                    (long) h * n * n * 4 / 1_000_000);
        }
    }

    private static long peakRssKb() throws Exception {
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith("VmHWM")) {
                return Long.parseLong(l.replaceAll("\\D", ""));
            }
        }
        return -1;
    }
}
