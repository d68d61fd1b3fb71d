package dev.jepd.tensor.torch;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Row-wise bf16 ops on the CPU in one pass over memory each, in Java's Vector API; today RMSNorm, which libtorch 2.7
 * composes from eight kernels (its {@code mean} over an axis takes a list that the C ABI's dispatcher cannot carry)
 * that each read and write the whole activation: 2.2–3.7 ms for a vision block's {@code [1024, 1280]} on this
 * machine against 0.4–0.7 ms here ({@code RowKernelProbe}).
 *
 * <p>It computes in f32 as Hugging Face's {@code Qwen2RMSNorm} does and rounds where libtorch's composition rounds:
 * the normed row to bf16, then its product with the weight (exact in f32) to bf16, to nearest even. Only the order of
 * the f32 sum of squares differs, so a normed value may round to its other bf16 neighbour ({@code Bf16RowsTest}
 * bounds the result against libtorch's: one ulp of the normed row, in at most 1% of the elements).
 *
 * <p>A fused {@code silu(gate) · up} and the rotary embedding were written the same way and measured 1.5–2.3× slower
 * than libtorch's kernels (C2 stops inlining the Vector API's calls in their larger loop bodies, and the vectors are
 * then boxed); they are not here.
 *
 * <p>Rows are split among {@link HostPool}'s threads when there are enough of them; small ops run on the caller.
 * Only touch this class after checking {@link Bf16MatVec.Support#AVAILABLE}: it links against
 * {@code jdk.incubator.vector}.
 */
final class Bf16Rows {
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** bf16 elements per vector step: two per int lane. */
    private static final int STEP = 2 * I.length();

    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    /** Below this many elements an op runs on the calling thread alone (waking a worker costs more). */
    private static final long PARALLEL_ELEMENTS = 1 << 15;

    private Bf16Rows() {}

    /**
     * {@code rows} rows of {@code d} bf16 elements in {@code seg}: row {@code r} is {@code (i, j) = (r / inner, r %
     * inner)} and starts at element {@code i · outerStride + j · innerStride}; its elements are adjacent. A stride of
     * 0 repeats one row (broadcasting).
     */
    record Rows(MemorySegment seg, long outer, long outerStride, long inner, long innerStride) {
        long rows() {
            return outer * inner;
        }

        long byteOffset(long r) {
            return 2 * ((r / inner) * outerStride + (r % inner) * innerStride);
        }

        /** Bytes from the first element to past the last one of rows of {@code d} elements. */
        static long extentBytes(long outer, long outerStride, long inner, long innerStride, long d) {
            return 2 * ((outer - 1) * outerStride + (inner - 1) * innerStride + d);
        }
    }

    /** {@code out[r] = bf16(w · bf16(x[r] · rsqrt(mean(x[r]²) + eps)))}, Qwen2RMSNorm in f32; out is dense. */
    static void rmsNorm(Rows x, MemorySegment w, int d, float eps, MemorySegment out) {
        run(x.rows(), d, (from, to) -> {
            for (long r = from; r < to; r++) {
                long xo = x.byteOffset(r);
                float inv = 1f / (float) Math.sqrt(sumOfSquares(x.seg(), xo, d) / d + eps);
                scaleRow(x.seg(), xo, inv, w, d, out, 2 * r * d);
            }
        });
    }

    private static float sumOfSquares(MemorySegment xs, long xo, int d) {
        int vecEnd = d - d % STEP;
        FloatVector a = FloatVector.zero(F);
        FloatVector b = FloatVector.zero(F);
        for (int i = 0; i < vecEnd; i += STEP) {
            IntVector v = ints(xs, xo + 2L * i);
            FloatVector e = even(v);
            FloatVector o = odd(v);
            a = e.fma(e, a);
            b = o.fma(o, b);
        }
        float ss = a.add(b).reduceLanes(VectorOperators.ADD);
        for (int i = vecEnd; i < d; i++) {
            float v = get(xs, xo + 2L * i);
            ss += v * v;
        }
        return ss;
    }

    /** {@code out = bf16(w · bf16(x · inv))} along one row. */
    private static void scaleRow(
            MemorySegment xs, long xo, float inv, MemorySegment w, int d, MemorySegment out, long oo) {
        int vecEnd = d - d % STEP;
        for (int i = 0; i < vecEnd; i += STEP) {
            IntVector v = ints(xs, xo + 2L * i);
            IntVector wv = ints(w, 2L * i);
            FloatVector e = round(even(v).mul(inv)).mul(even(wv));
            FloatVector o = round(odd(v).mul(inv)).mul(odd(wv));
            store(e, o, out, oo + 2L * i);
        }
        for (int i = vecEnd; i < d; i++) {
            float y = round(get(xs, xo + 2L * i) * inv);
            set(out, oo + 2L * i, y * get(w, 2L * i));
        }
    }

    private static final AtomicBoolean WARMING = new AtomicBoolean();
    private static final CountDownLatch WARMED = new CountDownLatch(1);

    /**
     * Runs the kernels on a small row block until C2 has compiled them, once per JVM, in a daemon thread that the
     * first bf16 weight loaded starts (so it overlaps the model's loading). Until then the Vector API runs
     * interpreted, its vectors boxed: the first RMSNorm of a vision block's {@code [1024, 1280]} took 680 ms instead
     * of 0.5, and after the warm-up 70–150 ms (one recompilation), then 0.5 ({@code RowKernelProbe}). Short rows keep
     * the interpreted part short; the compilers count calls and loop iterations, not bytes.
     */
    static void warmUpInBackground() {
        if (WARMING.compareAndSet(false, true)) {
            Thread.ofPlatform().daemon().name("jepd-bf16-warm-up").start(() -> {
                try {
                    warmUp();
                } finally {
                    WARMED.countDown();
                }
            });
        }
    }

    /** Returns when the warm-up started by {@link #warmUpInBackground} is done (at once if none was started). */
    static void awaitWarmUp() {
        if (!WARMING.get()) {
            return;
        }
        try {
            WARMED.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void warmUp() {
        int rows = 512; // 8 at a time on this thread; all of them now and then, through the pool as a real op
        int d = 2 * STEP + 3; // two vector steps and a scalar tail
        try (Arena arena = Arena.ofConfined()) {
            // Global-session views, as libtorch's memory reaches the kernels: a confined session in the compiled
            // code's profile would send the first real call back to the interpreter.
            MemorySegment x = global(arena.allocate(2L * rows * d, 64));
            MemorySegment w = global(arena.allocate(2L * d, 64));
            MemorySegment out = global(arena.allocate(2L * rows * d, 64));
            for (long i = 0; i < (long) rows * d; i++) {
                x.setAtIndex(BF16, i, Bf16MatVec.narrow((i % 7) * 0.25f - 0.75f));
            }
            for (int i = 0; i < d; i++) {
                w.setAtIndex(BF16, i, Bf16MatVec.narrow(1f + i * 0.01f));
            }
            Rows few = new Rows(x, 1, 0, 8, d);
            Rows all = new Rows(x, 1, 0, rows, d);
            for (int i = 0; i < 3000; i++) {
                rmsNorm(i % 100 == 99 ? all : few, w, d, 1e-6f, out);
            }
        }
    }

    private static MemorySegment global(MemorySegment s) {
        return MemorySegment.ofAddress(s.address()).reinterpret(s.byteSize());
    }

    /** Rows {@code [from, to)} of one op. */
    private interface RowRange {
        void rows(long from, long to);
    }

    /** All rows, on the pool's threads when the op is large enough and the pool is free, else on the caller. */
    private static void run(long rows, int d, RowRange op) {
        long elements = rows * d;
        HostPool pool = HostPool.SHARED;
        if (elements >= PARALLEL_ELEMENTS && pool.threads() > 1 && rows > 1) {
            int chunks = (int) Math.min(rows, 4L * pool.threads());
            long per = (rows + chunks - 1) / chunks;
            if (pool.tryRun(HostPool.RangeJob.of(rows, per, op::rows), false)) {
                return;
            }
        }
        op.rows(0, rows);
    }

    private static float get(MemorySegment seg, long offset) {
        return Float.intBitsToFloat(seg.get(BF16, offset) << 16);
    }

    /** Stores {@code f} rounded to bf16. */
    private static void set(MemorySegment seg, long offset, float f) {
        seg.set(BF16, offset, Bf16MatVec.narrow(f));
    }

    private static float round(float f) {
        return Float.intBitsToFloat(Bf16MatVec.narrow(f) << 16);
    }

    /** 2·LANES bf16 values as LANES ints: element 2j in the low half of int j, element 2j+1 in its high half. */
    private static IntVector ints(MemorySegment seg, long offset) {
        return IntVector.fromMemorySegment(I, seg, offset, ByteOrder.LITTLE_ENDIAN);
    }

    /** The even-indexed elements of {@link #ints} as f32. */
    private static FloatVector even(IntVector v) {
        return v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** The odd-indexed elements of {@link #ints} as f32. */
    private static FloatVector odd(IntVector v) {
        return v.and(0xFFFF0000).reinterpretAsFloats();
    }

    /**
     * Each lane's bits plus the round-to-nearest-even increment: the top 16 bits are the bf16. No NaN case is needed:
     * every NaN these kernels can meet has zero low 16 bits (loaded from bf16, or x86's default NaN), so the increment
     * cannot carry out of its payload.
     */
    private static IntVector roundBits(FloatVector f) {
        IntVector bits = f.reinterpretAsInts();
        return bits.add(bits.lanewise(VectorOperators.LSHR, 16).and(1)).add(0x7FFF);
    }

    /** Each lane rounded to the nearest bf16 (ties to even), kept as an f32. */
    private static FloatVector round(FloatVector f) {
        return roundBits(f).and(0xFFFF0000).reinterpretAsFloats();
    }

    /** Rounds the even- and odd-indexed elements to bf16 and stores them interleaved, as {@link #ints} read them. */
    private static void store(FloatVector even, FloatVector odd, MemorySegment seg, long offset) {
        roundBits(even)
                .lanewise(VectorOperators.LSHR, 16)
                .or(roundBits(odd).and(0xFFFF0000))
                .intoMemorySegment(seg, offset, ByteOrder.LITTLE_ENDIAN);
    }
}
