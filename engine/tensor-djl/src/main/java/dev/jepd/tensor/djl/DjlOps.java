package dev.jepd.tensor.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.djl.DjlBackend.DjlScope;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/** The {@link Ops} of {@link DjlBackend}: results are attached to the scope's DJL sub-manager. */
final class DjlOps implements Ops {
    private final DjlScope scope;

    DjlOps(DjlScope scope) {
        this.scope = scope;
    }

    @Override
    public Scope scope() {
        return scope;
    }

    private NDManager target() {
        if (scope.closed) {
            throw new IllegalStateException("tensor op on a closed scope");
        }
        return scope.manager;
    }

    /** Attaches a fresh result to this scope, whatever manager DJL put it in. */
    private Tensor own(NDArray a) {
        a.attach(target());
        return new DjlTensor(a);
    }

    static NDArray nd(Tensor t) {
        return ((DjlTensor) t).array;
    }

    @Override
    public Tensor fromFloats(float[] data, long... shape) {
        // Through a direct buffer: DJL copies heap arrays into one anyway.
        ByteBuffer buf = ByteBuffer.allocateDirect(data.length * 4).order(ByteOrder.nativeOrder());
        buf.asFloatBuffer().put(data);
        return new DjlTensor(target().create(buf, new Shape(shape), DataType.FLOAT32));
    }

    @Override
    public Tensor fromLongs(long[] data, long... shape) {
        return new DjlTensor(target().create(data, new Shape(shape)));
    }

    @Override
    public Tensor zeros(long... shape) {
        return new DjlTensor(target().zeros(new Shape(shape), DataType.FLOAT32));
    }

    /**
     * Widens into a direct buffer of our own straight from {@code stored}, with no float[] of the whole
     * tensor in between: a BFLOAT16 NDArray aborts the JVM in this JNI build, and libtorch keeps a pointer
     * to the buffer it is given, so the mapping itself must not be handed over.
     */
    @Override
    public Tensor load(MemorySegment stored, DType storedType, long... shape) {
        long numel = numel(shape);
        if (stored.byteSize() != numel * storedType.byteSize()) {
            throw new IllegalArgumentException("stored " + storedType + " tensor of shape " + shapeString(shape)
                    + " needs " + numel * storedType.byteSize() + " bytes, got " + stored.byteSize());
        }
        ByteBuffer buf = ByteBuffer.allocateDirect(Math.toIntExact(numel * 4)).order(ByteOrder.nativeOrder());
        MemorySegment dst = MemorySegment.ofBuffer(buf);
        switch (storedType) {
            case F32 -> MemorySegment.copy(stored, 0, dst, 0, stored.byteSize());
            case BF16, F16 -> {
                for (long i = 0; i < numel; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_FLOAT, i, storedType.getFloat(stored, i));
                }
            }
            case I64, I32 -> throw new UnsupportedOperationException("load " + storedType + " weights into DJL");
        }
        return new DjlTensor(target().create(buf, new Shape(shape), DataType.FLOAT32));
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    private static String shapeString(long[] shape) {
        return java.util.Arrays.toString(shape);
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return own(nd(a).add(nd(b)));
    }

    @Override
    public Tensor sub(Tensor a, Tensor b) {
        return own(nd(a).sub(nd(b)));
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        return own(nd(a).mul(nd(b)));
    }

    @Override
    public Tensor div(Tensor a, Tensor b) {
        return own(nd(a).div(nd(b)));
    }

    @Override
    public Tensor scale(Tensor a, float s) {
        return own(nd(a).mul(s));
    }

    @Override
    public Tensor addScalar(Tensor a, float s) {
        return own(nd(a).add(s));
    }

    @Override
    public Tensor neg(Tensor a) {
        return own(nd(a).neg());
    }

    @Override
    public Tensor cos(Tensor a) {
        return own(nd(a).cos());
    }

    @Override
    public Tensor sin(Tensor a) {
        return own(nd(a).sin());
    }

    @Override
    public Tensor sqrt(Tensor a) {
        return own(nd(a).sqrt());
    }

    @Override
    public Tensor sigmoid(Tensor a) {
        return own(nd(a).getNDArrayInternal().sigmoid());
    }

    @Override
    public Tensor silu(Tensor a) {
        NDArray x = nd(a);
        NDArray sig = x.getNDArrayInternal().sigmoid();
        NDArray out = x.mul(sig);
        sig.close();
        return own(out);
    }

    @Override
    public Tensor gelu(Tensor a) {
        return own(nd(a).getNDArrayInternal().gelu());
    }

    @Override
    public Tensor meanLastAxis(Tensor a) {
        return own(nd(a).mean(new int[] {-1}, true));
    }

    @Override
    public Tensor softmaxLastAxis(Tensor a) {
        return own(nd(a).softmax(-1));
    }

    @Override
    public Tensor matmul(Tensor a, Tensor b) {
        return own(nd(a).matMul(nd(b)));
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        NDArray xa = nd(x);
        NDArray wa = nd(w);
        long[] xs = xa.getShape().getShape();
        long in = xs[xs.length - 1];
        long out = wa.getShape().get(0);
        long rows = xa.getShape().size() / in;
        NDArray y;
        if (rows == 1) {
            // Matrix-vector: W [out, in] · x [in], reading W once in its stored order.
            NDArray xv = xa.reshape(in);
            NDArray yv = wa.matMul(xv); // [out]
            long[] ys = xs.clone();
            ys[ys.length - 1] = out;
            y = yv.reshape(ys);
            xv.close();
            yv.close();
        } else {
            NDArray wt = wa.transpose(1, 0); // a strided view: GEMM reads it transposed, no copy
            y = xa.matMul(wt); // [..., out]
            wt.close();
        }
        if (bias != null) {
            NDArray yb = y.add(nd(bias));
            y.close();
            y = yb;
        }
        return own(y);
    }

    @Override
    public Tensor reshape(Tensor a, long... shape) {
        return own(nd(a).reshape(shape));
    }

    @Override
    public Tensor permute(Tensor a, int... axes) {
        return own(nd(a).transpose(axes));
    }

    @Override
    public Tensor concat(List<Tensor> parts, int axis) {
        NDList list = new NDList(parts.size());
        for (Tensor t : parts) {
            list.add(nd(t));
        }
        return own(NDArrays.concat(list, axis));
    }

    @Override
    public Tensor slice(Tensor a, int axis, long start, long end) {
        NDArray x = nd(a);
        int ax = axis < 0 ? x.getShape().dimension() + axis : axis;
        return own(x.get(NDIndex.sliceAxis(ax, start, end)));
    }

    @Override
    public Tensor gatherRows(Tensor a, Tensor index) {
        return own(nd(a).get(new NDIndex("{}", nd(index))));
    }

    @Override
    public void scatterRows(Tensor dst, Tensor index, Tensor src) {
        nd(dst).set(new NDIndex("{}", nd(index)), nd(src));
    }
}
