package dev.jepd.tensor.ref;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.ref.RefBackend.RefScope;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;

/**
 * The reference backend's {@link Ops}: F32 maths in plain Java (double accumulation in sums and products),
 * I64 for index tensors. Every op reads elements by flat row-major index; shape ops are one gather of flat
 * indices ({@link #take}). Composite ops (norms, attention, rotary, paged and varlen attention) are the
 * SPI's defaults, built from these primitives.
 */
final class RefOps implements Ops {
    private final RefScope scope;

    RefOps(RefScope scope) {
        this.scope = scope;
    }

    @Override
    public Scope scope() {
        return scope;
    }

    private RefScope target() {
        if (scope.closed) {
            throw new IllegalStateException("tensor op on a closed scope");
        }
        return scope;
    }

    private RefTensor alloc(DType dtype, long... shape) {
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            }
        }
        return new RefTensor(shape, dtype, target());
    }

    static RefTensor ref(Tensor t) {
        return (RefTensor) t;
    }

    private static RefTensor f32(Tensor t, String op) {
        RefTensor r = ref(t);
        if (r.dtype != DType.F32) {
            throw new UnsupportedOperationException(op + " of a " + r.dtype + " tensor: the reference computes in F32");
        }
        return r;
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    private static int axis(int axis, int rank) {
        int a = axis < 0 ? rank + axis : axis;
        if (a < 0 || a >= rank) {
            throw new IllegalArgumentException("axis " + axis + " out of range for rank " + rank);
        }
        return a;
    }

    /** Row-major strides of {@code shape}, in elements. */
    private static long[] strides(long[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    // ---- creation

    @Override
    public Tensor fromFloats(float[] data, long... shape) {
        if (data.length != numel(shape)) {
            throw new IllegalArgumentException(data.length + " floats for shape " + Arrays.toString(shape));
        }
        RefTensor t = alloc(DType.F32, shape);
        for (int i = 0; i < data.length; i++) {
            t.set(i, data[i]);
        }
        return t;
    }

    @Override
    public Tensor fromLongs(long[] data, long... shape) {
        if (data.length != numel(shape)) {
            throw new IllegalArgumentException(data.length + " longs for shape " + Arrays.toString(shape));
        }
        RefTensor t = alloc(DType.I64, shape);
        for (int i = 0; i < data.length; i++) {
            DType.I64.setLong(t.data(), i, data[i]);
        }
        return t;
    }

    @Override
    public Tensor zeros(long... shape) {
        return alloc(DType.F32, shape); // native allocations start zeroed
    }

    /** F32 from BF16/F16/F32 bytes, I64 from I64/I32 bytes; widening is exact. */
    @Override
    public Tensor load(MemorySegment stored, DType storedType, long... shape) {
        long n = numel(shape);
        if (stored.byteSize() != n * storedType.byteSize()) {
            throw new IllegalArgumentException("stored " + storedType + " tensor of shape " + Arrays.toString(shape)
                    + " needs " + n * storedType.byteSize() + " bytes, got " + stored.byteSize());
        }
        RefTensor t = alloc(storedType.isFloatingPoint() ? DType.F32 : DType.I64, shape);
        for (long i = 0; i < n; i++) {
            if (storedType.isFloatingPoint()) {
                t.set(i, storedType.getFloat(stored, i));
            } else {
                DType.I64.setLong(t.data(), i, storedType.getLong(stored, i));
            }
        }
        return t;
    }

    // ---- elementwise

    private Tensor map(Tensor a, String op, DoubleUnaryOperator f) {
        RefTensor x = f32(a, op);
        RefTensor out = alloc(DType.F32, x.shape);
        for (long i = 0, n = x.numel(); i < n; i++) {
            out.set(i, (float) f.applyAsDouble(x.get(i)));
        }
        return out;
    }

    /** The broadcast result shape of {@code a} and {@code b} (numpy rules: align right, 1 stretches). */
    private static long[] broadcastShape(long[] a, long[] b) {
        int r = Math.max(a.length, b.length);
        long[] out = new long[r];
        for (int i = 0; i < r; i++) {
            long da = i - (r - a.length) >= 0 ? a[i - (r - a.length)] : 1;
            long db = i - (r - b.length) >= 0 ? b[i - (r - b.length)] : 1;
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException(
                        "shapes " + Arrays.toString(a) + " and " + Arrays.toString(b) + " do not broadcast");
            }
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    /** Flat index into a tensor of {@code shape} for the coordinates of {@code out}, broadcasting. */
    private static long broadcastIndex(long[] coords, long[] shape) {
        int shift = coords.length - shape.length;
        long idx = 0;
        for (int i = 0; i < shape.length; i++) {
            idx = idx * shape[i] + (shape[i] == 1 ? 0 : coords[i + shift]);
        }
        return idx;
    }

    private static long[] coords(long flat, long[] shape) {
        long[] c = new long[shape.length];
        for (int i = shape.length - 1; i >= 0; i--) {
            c[i] = shape[i] == 0 ? 0 : flat % shape[i];
            flat = shape[i] == 0 ? 0 : flat / shape[i];
        }
        return c;
    }

    private Tensor zip(Tensor a, Tensor b, String op, DoubleBinaryOperator f) {
        RefTensor x = f32(a, op);
        RefTensor y = f32(b, op);
        long[] shape = broadcastShape(x.shape, y.shape);
        RefTensor out = alloc(DType.F32, shape);
        for (long i = 0, n = out.numel(); i < n; i++) {
            long[] c = coords(i, shape);
            out.set(i, (float) f.applyAsDouble(x.get(broadcastIndex(c, x.shape)), y.get(broadcastIndex(c, y.shape))));
        }
        return out;
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return zip(a, b, "add", (x, y) -> (float) x + (float) y);
    }

    @Override
    public Tensor sub(Tensor a, Tensor b) {
        return zip(a, b, "sub", (x, y) -> (float) x - (float) y);
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        return zip(a, b, "mul", (x, y) -> (float) x * (float) y);
    }

    @Override
    public Tensor div(Tensor a, Tensor b) {
        return zip(a, b, "div", (x, y) -> (float) x / (float) y);
    }

    @Override
    public Tensor scale(Tensor a, float s) {
        return map(a, "scale", x -> (float) x * s);
    }

    @Override
    public Tensor addScalar(Tensor a, float s) {
        return map(a, "addScalar", x -> (float) x + s);
    }

    @Override
    public Tensor neg(Tensor a) {
        return map(a, "neg", x -> -x);
    }

    @Override
    public Tensor cos(Tensor a) {
        return map(a, "cos", Math::cos);
    }

    @Override
    public Tensor sin(Tensor a) {
        return map(a, "sin", Math::sin);
    }

    @Override
    public Tensor sqrt(Tensor a) {
        return map(a, "sqrt", Math::sqrt);
    }

    @Override
    public Tensor sigmoid(Tensor a) {
        return map(a, "sigmoid", x -> 1 / (1 + Math.exp(-x)));
    }

    @Override
    public Tensor silu(Tensor a) {
        return map(a, "silu", x -> x / (1 + Math.exp(-x)));
    }

    @Override
    public Tensor gelu(Tensor a) {
        return map(a, "gelu", x -> 0.5 * x * (1 + erf(x / Math.sqrt(2))));
    }

    /**
     * The error function to double precision: {@code erf(x) = 2/√π · e^(-x²) · Σ 2ⁿ x^(2n+1) / (2n+1)!!}, a
     * series of positive terms (no cancellation); |x| ≥ 6 is ±1 in double.
     */
    static double erf(double x) {
        double ax = Math.abs(x);
        if (ax >= 6) {
            return Math.signum(x);
        }
        double term = ax;
        double sum = ax;
        for (int n = 1; n < 500 && term > 1e-17 * sum; n++) {
            term *= 2 * ax * ax / (2 * n + 1);
            sum += term;
        }
        return Math.signum(x) * 2 / Math.sqrt(Math.PI) * Math.exp(-ax * ax) * sum;
    }

    // ---- reductions

    @Override
    public Tensor meanLastAxis(Tensor a) {
        RefTensor x = f32(a, "meanLastAxis");
        long len = x.shape[x.shape.length - 1];
        long[] shape = x.shape.clone();
        shape[shape.length - 1] = 1;
        RefTensor out = alloc(DType.F32, shape);
        for (long r = 0, rows = out.numel(); r < rows; r++) {
            double sum = 0;
            for (long j = 0; j < len; j++) {
                sum += x.get(r * len + j);
            }
            out.set(r, (float) (sum / len));
        }
        return out;
    }

    /** A row of only -inf has no softmax: NaN, as in torch. */
    @Override
    public Tensor softmaxLastAxis(Tensor a) {
        RefTensor x = f32(a, "softmaxLastAxis");
        long len = x.shape[x.shape.length - 1];
        RefTensor out = alloc(DType.F32, x.shape);
        for (long r = 0, rows = len == 0 ? 0 : x.numel() / len; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (long j = 0; j < len; j++) {
                max = Math.max(max, x.get(r * len + j));
            }
            double sum = 0;
            for (long j = 0; j < len; j++) {
                sum += Math.exp(x.get(r * len + j) - max);
            }
            for (long j = 0; j < len; j++) {
                out.set(r * len + j, (float) (Math.exp(x.get(r * len + j) - max) / sum));
            }
        }
        return out;
    }

    // ---- linear algebra

    /** torch.matmul: 1-D operands become a row (left) or column (right); leading axes broadcast. */
    @Override
    public Tensor matmul(Tensor a, Tensor b) {
        RefTensor x = f32(a, "matmul");
        RefTensor y = f32(b, "matmul");
        boolean aVec = x.shape.length == 1;
        boolean bVec = y.shape.length == 1;
        long[] sa = aVec ? new long[] {1, x.shape[0]} : x.shape;
        long[] sb = bVec ? new long[] {y.shape[0], 1} : y.shape;
        long m = sa[sa.length - 2];
        long k = sa[sa.length - 1];
        long n = sb[sb.length - 1];
        if (sb[sb.length - 2] != k) {
            throw new IllegalArgumentException(
                    "matmul of " + Arrays.toString(x.shape) + " and " + Arrays.toString(y.shape));
        }
        long[] batchA = Arrays.copyOf(sa, sa.length - 2);
        long[] batchB = Arrays.copyOf(sb, sb.length - 2);
        long[] batch = broadcastShape(batchA, batchB);
        List<Long> outShape = new ArrayList<>();
        for (long d : batch) {
            outShape.add(d);
        }
        if (!aVec) {
            outShape.add(m);
        }
        if (!bVec) {
            outShape.add(n);
        }
        RefTensor out =
                alloc(DType.F32, outShape.stream().mapToLong(Long::longValue).toArray());
        for (long bi = 0, nb = numel(batch); bi < nb; bi++) {
            long[] c = coords(bi, batch);
            long offA = broadcastIndex(c, batchA) * m * k;
            long offB = broadcastIndex(c, batchB) * k * n;
            for (long i = 0; i < m; i++) {
                for (long j = 0; j < n; j++) {
                    double acc = 0;
                    for (long p = 0; p < k; p++) {
                        acc += (double) x.get(offA + i * k + p) * y.get(offB + p * n + j);
                    }
                    out.set(bi * m * n + i * n + j, (float) acc);
                }
            }
        }
        return out;
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        RefTensor in = f32(x, "linear");
        RefTensor wt = f32(w, "linear");
        RefTensor b = bias == null ? null : f32(bias, "linear");
        long k = in.shape[in.shape.length - 1];
        long n = wt.shape[0];
        if (wt.shape.length != 2 || wt.shape[1] != k || (b != null && b.numel() != n)) {
            throw new IllegalArgumentException("linear of " + Arrays.toString(in.shape) + " with weight "
                    + Arrays.toString(wt.shape) + (b == null ? "" : " and bias " + Arrays.toString(b.shape)));
        }
        long[] shape = in.shape.clone();
        shape[shape.length - 1] = n;
        RefTensor out = alloc(DType.F32, shape);
        for (long r = 0, rows = numel(Arrays.copyOf(in.shape, in.shape.length - 1)); r < rows; r++) {
            for (long j = 0; j < n; j++) {
                double acc = 0;
                for (long p = 0; p < k; p++) {
                    acc += (double) in.get(r * k + p) * wt.get(j * k + p);
                }
                out.set(r * n + j, b == null ? (float) acc : (float) acc + b.get(j));
            }
        }
        return out;
    }

    // ---- shape: every op is a gather of flat source indices

    /** A new tensor of {@code shape} whose element {@code i} is {@code src}'s flat element {@code from[i]}. */
    private RefTensor take(RefTensor src, long[] from, long... shape) {
        RefTensor out = alloc(src.dtype, shape);
        long size = src.dtype.byteSize();
        MemorySegment s = src.data();
        MemorySegment d = out.data();
        for (int i = 0; i < from.length; i++) {
            MemorySegment.copy(s, from[i] * size, d, i * size, size);
        }
        return out;
    }

    private static long[] identity(long n) {
        long[] idx = new long[Math.toIntExact(n)];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        return idx;
    }

    /** One dimension may be -1 (inferred), as in torch.reshape. */
    @Override
    public Tensor reshape(Tensor a, long... shape) {
        RefTensor x = ref(a);
        long[] s = shape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1 && infer < 0) {
                infer = i;
            } else {
                known *= s[i];
            }
        }
        if (infer >= 0) {
            s[infer] = known == 0 ? 0 : x.numel() / known;
        }
        if (numel(s) != x.numel()) {
            throw new IllegalArgumentException(
                    "cannot reshape " + Arrays.toString(x.shape) + " to " + Arrays.toString(shape));
        }
        return take(x, identity(x.numel()), s);
    }

    @Override
    public Tensor permute(Tensor a, int... axes) {
        RefTensor x = ref(a);
        int r = x.shape.length;
        if (axes.length != r) {
            throw new IllegalArgumentException("permute " + Arrays.toString(axes) + " of rank " + r);
        }
        int[] ax = new int[r];
        boolean[] seen = new boolean[r];
        long[] shape = new long[r];
        for (int i = 0; i < r; i++) {
            ax[i] = axis(axes[i], r);
            if (seen[ax[i]]) {
                throw new IllegalArgumentException("permute repeats axis " + axes[i]);
            }
            seen[ax[i]] = true;
            shape[i] = x.shape[ax[i]];
        }
        long[] srcStrides = strides(x.shape);
        long[] from = new long[Math.toIntExact(numel(shape))];
        for (int i = 0; i < from.length; i++) {
            long[] c = coords(i, shape);
            long f = 0;
            for (int d = 0; d < r; d++) {
                f += c[d] * srcStrides[ax[d]];
            }
            from[i] = f;
        }
        return take(x, from, shape);
    }

    @Override
    public Tensor concat(List<Tensor> parts, int axis) {
        RefTensor first = ref(parts.getFirst());
        int r = first.shape.length;
        int ax = axis(axis, r);
        long[] shape = first.shape.clone();
        shape[ax] = 0;
        for (Tensor t : parts) {
            RefTensor p = ref(t);
            for (int d = 0; d < r; d++) {
                if (p.shape.length != r || (d != ax && p.shape[d] != first.shape[d]) || p.dtype != first.dtype) {
                    throw new IllegalArgumentException("concat of " + p + " with " + first + " along axis " + axis);
                }
            }
            shape[ax] += p.shape[ax];
        }
        RefTensor out = alloc(first.dtype, shape);
        long size = first.dtype.byteSize();
        long outer = numel(Arrays.copyOf(shape, ax));
        long inner = numel(Arrays.copyOfRange(shape, ax + 1, r));
        long at = 0; // position along the axis in the output
        for (Tensor t : parts) {
            RefTensor p = ref(t);
            long chunk = p.shape[ax] * inner;
            for (long o = 0; o < outer; o++) {
                MemorySegment.copy(
                        p.data(),
                        o * chunk * size,
                        out.data(),
                        (o * shape[ax] * inner + at * inner) * size,
                        chunk * size);
            }
            at += p.shape[ax];
        }
        return out;
    }

    /** {@code 0 <= start <= end <= dim} is required (no clamping, no negative bounds). */
    @Override
    public Tensor slice(Tensor a, int axis, long start, long end) {
        RefTensor x = ref(a);
        int ax = axis(axis, x.shape.length);
        if (start < 0 || end < start || end > x.shape[ax]) {
            throw new IllegalArgumentException(
                    "slice [" + start + ", " + end + ") of axis " + axis + " of " + Arrays.toString(x.shape));
        }
        long[] shape = x.shape.clone();
        shape[ax] = end - start;
        long[] srcStrides = strides(x.shape);
        long[] from = new long[Math.toIntExact(numel(shape))];
        for (int i = 0; i < from.length; i++) {
            long[] c = coords(i, shape);
            c[ax] += start;
            long f = 0;
            for (int d = 0; d < c.length; d++) {
                f += c[d] * srcStrides[d];
            }
            from[i] = f;
        }
        return take(x, from, shape);
    }

    private static long[] rowIndex(RefTensor index, long rows) {
        if (index.dtype != DType.I64 || index.shape.length != 1) {
            throw new IllegalArgumentException("row index must be a 1-D I64 tensor, got " + index);
        }
        long[] idx = index.toLongs();
        for (long i : idx) {
            if (i < 0 || i >= rows) {
                throw new IndexOutOfBoundsException("row " + i + " of " + rows);
            }
        }
        return idx;
    }

    @Override
    public Tensor gatherRows(Tensor a, Tensor index) {
        RefTensor x = ref(a);
        long[] idx = rowIndex(ref(index), x.shape[0]);
        long row = numel(x.shape) / Math.max(1, x.shape[0]);
        long[] shape = x.shape.clone();
        shape[0] = idx.length;
        long[] from = new long[Math.toIntExact(idx.length * row)];
        for (int i = 0; i < idx.length; i++) {
            for (int j = 0; j < row; j++) {
                from[(int) (i * row + j)] = idx[i] * row + j;
            }
        }
        return take(x, from, shape);
    }

    @Override
    public void scatterRows(Tensor dst, Tensor index, Tensor src) {
        RefTensor d = ref(dst);
        RefTensor s = ref(src);
        long[] idx = rowIndex(ref(index), d.shape[0]);
        long row = numel(d.shape) / Math.max(1, d.shape[0]);
        if (s.dtype != d.dtype || s.numel() != idx.length * row) {
            throw new IllegalArgumentException("scatter " + s + " into rows of " + d + " at " + idx.length + " rows");
        }
        long size = d.dtype.byteSize();
        for (int i = 0; i < idx.length; i++) {
            MemorySegment.copy(s.data(), i * row * size, d.data(), idx[i] * row * size, row * size);
        }
    }
}
