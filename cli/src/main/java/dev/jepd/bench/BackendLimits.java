package dev.jepd.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the tensor backend reaches on this machine when nothing but the hardware is in its way: a square
 * f32 GEMM (the compute ceiling of prefill and the vision tower), decode's matrix-vector product over
 * more weights than the caches hold (its read ceiling), a read-only reduction and two copies (streaming
 * bandwidth), and a plain Java {@link MemorySegment#copy} for reference. Everything goes through the
 * tensor SPI, so a second backend is measured by the same code.
 *
 * @param gemm {@code matmul} of two {@code n × n} matrices, GFLOP/s
 * @param gemmLinear {@code linear} ({@code x · Wᵀ}, the models' layout) at the same size, GFLOP/s
 * @param gemv {@code linear} of one row against a ring of {@code [out, in]} matrices, GB/s of weights read
 * @param gemvFlops the same run in GFLOP/s
 * @param read {@code meanLastAxis} over a large tensor, GB/s read
 * @param copyFresh {@code addScalar} into a freshly allocated output, GB/s read + written
 * @param copyInPlace {@code scatterRows} into an existing tensor (torch {@code index_copy_}), GB/s read +
 *     written
 * @param segmentCopy {@link MemorySegment#copy} between two native segments on one Java thread, GB/s read +
 *     written
 */
public record BackendLimits(
        @JsonProperty("backend") String backend,
        @JsonProperty("sizes") Sizes sizes,
        @JsonProperty("gemm") Rate gemm,
        @JsonProperty("gemm_linear") Rate gemmLinear,
        @JsonProperty("gemv") Rate gemv,
        @JsonProperty("gemv_flops") Rate gemvFlops,
        @JsonProperty("read") Rate read,
        @JsonProperty("copy_fresh") Rate copyFresh,
        @JsonProperty("copy_in_place") Rate copyInPlace,
        @JsonProperty("segment_copy") Rate segmentCopy) {

    private static final Logger LOG = LoggerFactory.getLogger(BackendLimits.class);

    /** A rate at the median and at the best sample, in {@code unit}. */
    public record Rate(
            @JsonProperty("label") String label,
            @JsonProperty("unit") String unit,
            @JsonProperty("median") double median,
            @JsonProperty("best") double best) {
        static Rate of(String label, String unit, Timing t, double amount, double scale) {
            return new Rate(label, unit, t.medianRate(amount) / scale, t.bestRate(amount) / scale);
        }

        static Rate max(Rate a, Rate b) {
            return new Rate(a.label(), a.unit(), Math.max(a.median(), b.median()), Math.max(a.best(), b.best()));
        }
    }

    /**
     * How big each probe is.
     *
     * @param gemmN the square GEMM's side
     * @param gemvIn the matrix-vector product's input width
     * @param gemvOut its output width
     * @param gemvBytes at least this many bytes of distinct matrices per timed pass, so they stream from
     *     memory as decode's weights do instead of staying in a large last-level cache
     * @param streamBytes bytes of each tensor of the read and copy probes
     */
    public record Sizes(
            @JsonProperty("gemm_n") int gemmN,
            @JsonProperty("gemv_in") int gemvIn,
            @JsonProperty("gemv_out") int gemvOut,
            @JsonProperty("gemv_bytes") long gemvBytes,
            @JsonProperty("stream_bytes") long streamBytes) {

        /**
         * 2048³, and Qwen2.5-VL-3B's MLP shape (hidden 2048, intermediate 11008) streamed over at least 1 GiB,
         * read and copy over 1 GiB: past any cache this machine reports (its L3 is shown as 480 MiB).
         */
        public static Sizes standard() {
            return new Sizes(2048, 2048, 11008, 1L << 30, 1L << 30);
        }

        /**
         * For a GPU: an 8192³ GEMM (1.1 TFLOP: milliseconds, far past launch costs), the same MLP shape over
         * 2 GiB, read and copy over 4 GiB, several times an H200's 60 MB L2.
         */
        public static Sizes device() {
            return new Sizes(8192, 2048, 11008, 2L << 30, 4L << 30);
        }

        /** Small enough for a unit test. */
        public static Sizes small() {
            return new Sizes(128, 256, 512, 4L << 20, 4L << 20);
        }

        long gemvMatrixBytes(int bytesPerWeight) {
            return (long) gemvIn * gemvOut * bytesPerWeight;
        }

        int gemvMatrices(int bytesPerWeight) {
            long m = gemvMatrixBytes(bytesPerWeight);
            return (int) Math.max(1, (gemvBytes + m - 1) / m);
        }
    }

    private static final int ROW = 4096; // row width of the streaming probes' tensors

    public static BackendLimits measure(TensorBackend backend, Sizes sizes, int warmup, int iterations) {
        return measure(backend, sizes, warmup, iterations, DType.F32);
    }

    /**
     * As above with the GEMM and GEMV operands in {@code weights} (F32 or BF16, the dtype the model computes
     * in); the streaming probes use the backend's own float dtype and count its bytes.
     */
    public static BackendLimits measure(TensorBackend backend, Sizes sizes, int warmup, int iterations, DType weights) {
        String dt = weights == DType.BF16 ? "bf16" : "f32";
        Rate gemm;
        Rate gemmLinear;
        try (Scope s = backend.open()) {
            int n = sizes.gemmN();
            Tensor a = filled(backend, s, weights, 0.5f, n, n);
            Tensor b = filled(backend, s, weights, 0.25f, n, n);
            double flops = 2.0 * n * n * n;
            LOG.info("limits: {} GEMM {}x{}x{}", dt, n, n, n);
            gemm = Rate.of(
                    dt + " GEMM " + n + "x" + n + "x" + n + " (matmul)",
                    "GFLOP/s",
                    Timing.measure(warmup, iterations, () -> step(backend, o -> o.matmul(a, b))),
                    flops,
                    1e9);
            gemmLinear = Rate.of(
                    dt + " GEMM " + n + "x" + n + "x" + n + " (linear, x·Wᵀ)",
                    "GFLOP/s",
                    Timing.measure(warmup, iterations, () -> step(backend, o -> o.linear(a, b, null))),
                    flops,
                    1e9);
        }

        Rate gemv;
        Rate gemvFlops;
        try (Scope s = backend.open()) {
            int k = sizes.gemvMatrices(weights.byteSize());
            List<Tensor> ring = new ArrayList<>(k);
            for (int i = 0; i < k; i++) {
                ring.add(filled(backend, s, weights, 0.001f * (i + 1), sizes.gemvOut(), sizes.gemvIn())); // [out, in]
            }
            Tensor x = filled(backend, s, weights, 1f, 1, sizes.gemvIn()); // [1, in]
            long bytes = k * sizes.gemvMatrixBytes(weights.byteSize());
            LOG.info(
                    "limits: " + dt + " GEMV 1x{} · {}x{} over {} matrices ({} MB)",
                    sizes.gemvIn(),
                    sizes.gemvIn(),
                    sizes.gemvOut(),
                    k,
                    bytes / 1_000_000);
            Timing t = Timing.measure(
                    warmup,
                    iterations,
                    () -> step(backend, o -> {
                        for (Tensor w : ring) {
                            o.linear(x, w, null); // [1, out]
                        }
                        return null;
                    }));
            String shape = "1x" + sizes.gemvIn() + " · " + sizes.gemvIn() + "x" + sizes.gemvOut() + ", " + k
                    + " matrices, " + mb(bytes);
            gemv = Rate.of(dt + " GEMV " + shape, "GB/s", t, bytes, 1e9);
            gemvFlops = Rate.of(dt + " GEMV " + shape, "GFLOP/s", t, 2.0 * k * sizes.gemvIn() * sizes.gemvOut(), 1e9);
        }

        int elementBytes; // the backend's own float dtype (bf16 on a bf16 backend): bytes as they stream
        try (Scope s = backend.open()) {
            Ops ops = backend.ops(s);
            elementBytes = ops.zeros(1).dtype().byteSize();
        }
        long rows = Math.max(1, sizes.streamBytes() / (ROW * (long) elementBytes));
        long bytes = rows * ROW * elementBytes;
        Rate read;
        Rate copyFresh;
        Rate copyInPlace;
        try (Scope s = backend.open()) {
            Ops ops = backend.ops(s);
            Tensor src = filled(backend, s, 1f, rows, ROW);
            LOG.info("limits: streaming over {}", mb(bytes));
            read = Rate.of(
                    "read: mean over the last axis of " + mb(bytes),
                    "GB/s",
                    Timing.measure(warmup, iterations, () -> step(backend, o -> o.meanLastAxis(src))),
                    bytes,
                    1e9);
            copyFresh = Rate.of(
                    "copy: x + 1 into a fresh output, " + mb(bytes) + " (read + write)",
                    "GB/s",
                    Timing.measure(warmup, iterations, () -> step(backend, o -> o.addScalar(src, 1f))),
                    2.0 * bytes,
                    1e9);
            Tensor dst = filled(backend, s, 0f, rows, ROW);
            long[] order = new long[(int) rows];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            Tensor index = ops.fromLongs(order, rows);
            copyInPlace = Rate.of(
                    "copy: index_copy_ in place, " + mb(bytes) + " (read + write)",
                    "GB/s",
                    Timing.measure(warmup, iterations, () -> {
                        ops.scatterRows(dst, index, src);
                        backend.synchronize();
                    }),
                    2.0 * bytes,
                    1e9);
        }

        Rate segmentCopy;
        // Confined and closed here: the two buffers live only for this probe.
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment from = arena.allocate(bytes, 64);
            MemorySegment to = arena.allocate(bytes, 64);
            from.fill((byte) 1);
            to.fill((byte) 0);
            segmentCopy = Rate.of(
                    "copy: MemorySegment.copy, 1 Java thread, " + mb(bytes) + " (read + write)",
                    "GB/s",
                    Timing.measure(warmup, iterations, () -> MemorySegment.copy(from, 0, to, 0, bytes)),
                    2.0 * bytes,
                    1e9);
            if (to.get(ValueLayout.JAVA_BYTE, bytes - 1) != 1) {
                throw new IllegalStateException("MemorySegment.copy probe copied nothing");
            }
        }
        return new BackendLimits(
                backend.name(), sizes, gemm, gemmLinear, gemv, gemvFlops, read, copyFresh, copyInPlace, segmentCopy);
    }

    /** The better of two measurements, probe by probe (median with median, best with best). */
    public static BackendLimits ceiling(BackendLimits a, BackendLimits b) {
        return new BackendLimits(
                a.backend(),
                a.sizes(),
                Rate.max(a.gemm(), b.gemm()),
                Rate.max(a.gemmLinear(), b.gemmLinear()),
                Rate.max(a.gemv(), b.gemv()),
                Rate.max(a.gemvFlops(), b.gemvFlops()),
                Rate.max(a.read(), b.read()),
                Rate.max(a.copyFresh(), b.copyFresh()),
                Rate.max(a.copyInPlace(), b.copyInPlace()),
                Rate.max(a.segmentCopy(), b.segmentCopy()));
    }

    /** Runs one op in its own scope, so its output is freed before the next sample. */
    private static void step(TensorBackend backend, java.util.function.Function<Ops, Tensor> op) {
        try (Scope s = backend.open()) {
            op.apply(backend.ops(s));
            backend.synchronize(); // an accelerator's kernels are queued: the clock stops when they are done
        }
    }

    /**
     * A tensor of {@code value} in {@code into} whose pages are all written: {@code zeros} alone might map
     * untouched pages, which read from the zero page and would make reads look free.
     */
    private static Tensor filled(TensorBackend backend, Scope into, float value, long... shape) {
        try (Scope s = into.child()) {
            Ops ops = backend.ops(s);
            return s.keep(ops.addScalar(ops.zeros(shape), value));
        }
    }

    /** As above in {@code dtype}: F32 as before, BF16 loaded from bf16 bytes (the backend keeps them bf16). */
    private static Tensor filled(TensorBackend backend, Scope into, DType dtype, float value, long... shape) {
        if (dtype == DType.F32) {
            return filled(backend, into, value, shape);
        }
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        // Confined: the backend copies the bytes in load, so they need not outlive this call.
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(n * dtype.byteSize());
            for (long i = 0; i < n; i++) {
                dtype.setFloat(bytes, i, value);
            }
            return backend.ops(into).load(bytes, dtype, shape);
        }
    }

    static String mb(long bytes) {
        return bytes >= 1L << 30 && bytes % (1L << 30) == 0
                ? (bytes >> 30) + " GiB"
                : String.format(java.util.Locale.ROOT, "%.0f MB", bytes / 1e6);
    }
}
