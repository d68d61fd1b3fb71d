package dev.jepd.tensor.torch;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code y = x · Wᵀ + b} for one row of bf16 {@code x} and a contiguous bf16 {@code W [out, in]} on the CPU: the
 * matrix-vector product of a decode step at batch 1, written with Java's Vector API because libtorch's own
 * kernels for it leave the memory bus idle part of the time (docs/PERF.md: libtorch 2.7.1's bf16 {@code mv}
 * streams 3–5 GB/s, its oneDNN GEMM at M=1 16–17 GB/s on the MLP's {@code [11008, 2048]} matrices against a
 * 21–23 GB/s read probe; this loop reads them at 20–21 GB/s).
 *
 * <p>Each weight is widened from bf16 to f32 in registers (a bf16 is the top half of an f32) and multiplied into
 * f32 accumulators, as oneDNN's bf16 GEMM accumulates; the sum is rounded to bf16 (to nearest even) and the bias
 * added after, as libtorch's bf16 {@code addmm} does. Output rows are split among the threads of {@link HostPool}, which spin briefly for the next product before
 * they park: the matrix-vector products of a decode step come a few microseconds apart. One product runs at a
 * time; a caller that finds the pool busy gets {@code false} and uses libtorch.
 *
 * <p>Only {@link Support} may be touched before checking {@link Support#AVAILABLE}: this class links against
 * the {@code jdk.incubator.vector} module, which the JVM resolves only when started with
 * {@code --add-modules jdk.incubator.vector}.
 */
final class Bf16MatVec {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final int LANES = F.length();
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    /** Output rows per task: small enough to balance two to sixteen threads, large enough to amortise a claim. */
    private static final int CHUNK_ROWS = 64;

    private Bf16MatVec() {}

    /** Whether this JVM can run the kernel: the module is resolved and the preferred vectors hold ≥ 8 floats. */
    static final class Support {
        static final boolean AVAILABLE =
                ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent() && probe();

        private Support() {}

        private static boolean probe() {
            try {
                return Bf16MatVec.LANES >= 8 && Bf16MatVec.I.length() == Bf16MatVec.LANES;
            } catch (LinkageError e) {
                return false;
            }
        }
    }

    /**
     * Computes {@code y[o] = bf16(Σ_i W[o, i] · x[i] + bias[o])} into {@code y} when the pool is free.
     *
     * @param w {@code [out, in]} bf16, row-major
     * @param x {@code [in]} bf16
     * @param bias {@code [out]} bf16, or {@code null}
     * @param y {@code [out]} bf16, written
     * @return false, writing nothing, when another product holds the pool
     */
    static boolean tryRun(MemorySegment w, long out, long in, MemorySegment x, MemorySegment bias, MemorySegment y) {
        if (in > Integer.MAX_VALUE || out > Integer.MAX_VALUE) {
            return false;
        }
        if (w.byteSize() < 2 * out * in
                || x.byteSize() < 2 * in
                || y.byteSize() < 2 * out
                || (bias != null && bias.byteSize() < 2 * out)) {
            throw new IllegalArgumentException(
                    "bf16 matrix-vector product: segments smaller than [" + out + ", " + in + "]");
        }
        float[] xf = new float[(int) in];
        for (int i = 0; i < xf.length; i++) {
            xf[i] = widen(x.getAtIndex(BF16, i));
        }
        return HostPool.SHARED.tryRun(new Product(w, (int) out, (int) in, xf, bias, y), true);
    }

    private static float widen(short bf16) {
        return Float.intBitsToFloat(bf16 << 16);
    }

    /** Round to nearest even, as {@code torch.Tensor.to(torch.bfloat16)}; NaN stays a quiet NaN. */
    static short narrow(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    static FloatVector load(MemorySegment w, long offset) {
        ShortVector s = ShortVector.fromMemorySegment(S, w, offset, ByteOrder.LITTLE_ENDIAN);
        IntVector wide = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
        return wide.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** One product, split into chunks of output rows that the pool's threads claim in turn. */
    private record Product(MemorySegment w, int out, int in, float[] x, MemorySegment bias, MemorySegment y)
            implements HostPool.Job {
        @Override
        public int chunks() {
            return (out + CHUNK_ROWS - 1) / CHUNK_ROWS;
        }

        @Override
        public void chunk(int c) {
            int from = c * CHUNK_ROWS;
            int to = Math.min(out, from + CHUNK_ROWS);
            int o = from;
            for (; o + 1 < to; o += 2) {
                rows2(o);
            }
            if (o < to) {
                store(o, dot(o));
            }
        }

        /** Two weight rows at once: each x vector is loaded once for both. */
        private void rows2(int o) {
            int vecEnd = in - in % (2 * LANES);
            long r0 = 2L * o * in;
            long r1 = r0 + 2L * in;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = FloatVector.zero(F);
            FloatVector b0 = FloatVector.zero(F);
            FloatVector b1 = FloatVector.zero(F);
            for (int i = 0; i < vecEnd; i += 2 * LANES) {
                FloatVector x0 = FloatVector.fromArray(F, x, i);
                FloatVector x1 = FloatVector.fromArray(F, x, i + LANES);
                a0 = load(w, r0 + 2L * i).fma(x0, a0);
                a1 = load(w, r0 + 2L * (i + LANES)).fma(x1, a1);
                b0 = load(w, r1 + 2L * i).fma(x0, b0);
                b1 = load(w, r1 + 2L * (i + LANES)).fma(x1, b1);
            }
            float s0 = a0.add(a1).reduceLanes(VectorOperators.ADD);
            float s1 = b0.add(b1).reduceLanes(VectorOperators.ADD);
            for (int i = vecEnd; i < in; i++) {
                s0 += widen(w.get(BF16, r0 + 2L * i)) * x[i];
                s1 += widen(w.get(BF16, r1 + 2L * i)) * x[i];
            }
            store(o, s0);
            store(o + 1, s1);
        }

        private float dot(int o) {
            long r = 2L * o * in;
            int vecEnd = in - in % LANES;
            FloatVector a = FloatVector.zero(F);
            for (int i = 0; i < vecEnd; i += LANES) {
                a = load(w, r + 2L * i).fma(FloatVector.fromArray(F, x, i), a);
            }
            float s = a.reduceLanes(VectorOperators.ADD);
            for (int i = vecEnd; i < in; i++) {
                s += widen(w.get(BF16, r + 2L * i)) * x[i];
            }
            return s;
        }

        /** As libtorch's bf16 {@code addmm}: the product is rounded to bf16, then the bias is added and rounded. */
        private void store(int o, float sum) {
            short product = narrow(sum);
            y.setAtIndex(BF16, o, bias == null ? product : narrow(widen(product) + widen(bias.getAtIndex(BF16, o))));
        }
    }
}
