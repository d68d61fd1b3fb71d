package dev.jepd.tensor.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class DjlBackendTest {
    static TensorBackend backend;
    private Ops ops; // bound to the scope each test opens

    @BeforeAll
    static void init() {
        backend = new DjlBackend();
    }

    @AfterAll
    static void done() {
        backend.close();
    }

    @Test
    void linearMatchesHandComputationForOneAndManyRows() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            Tensor w = ops.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3); // [out=2, in=3]
            Tensor b = ops.fromFloats(new float[] {10, 20}, 2);
            Tensor x1 = ops.fromFloats(new float[] {1, 0, -1}, 1, 3);
            assertArrayEquals(new float[] {8, 18}, ops.linear(x1, w, b).toFloats());
            assertArrayEquals(new long[] {1, 2}, ops.linear(x1, w, b).shape());
            Tensor x2 = ops.fromFloats(new float[] {1, 0, -1, 1, 1, 1}, 2, 3);
            assertArrayEquals(new float[] {8, 18, 16, 35}, ops.linear(x2, w, b).toFloats());
            assertArrayEquals(new float[] {-2, -2}, ops.linear(x1, w, null).toFloats());
        }
    }

    @Test
    void gatherAndScatterRows() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            Tensor cache = ops.zeros(4, 2);
            ops.scatterRows(cache, ops.fromLongs(new long[] {3, 1}, 2), ops.fromFloats(new float[] {1, 2, 3, 4}, 2, 2));
            assertArrayEquals(new float[] {0, 0, 3, 4, 0, 0, 1, 2}, cache.toFloats());
            Tensor g = ops.gatherRows(cache, ops.fromLongs(new long[] {3, 3, 1}, 3));
            assertArrayEquals(new float[] {1, 2, 1, 2, 3, 4}, g.toFloats());
        }
    }

    @Test
    void shapeOpsAndSoftmax() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            Tensor a = ops.fromFloats(new float[] {0, 1, 2, 3, 4, 5}, 2, 3);
            assertArrayEquals(
                    new float[] {0, 3, 1, 4, 2, 5}, ops.permute(a, 1, 0).toFloats());
            assertArrayEquals(new float[] {1, 2, 4, 5}, ops.slice(a, 1, 1, 3).toFloats());
            assertArrayEquals(new long[] {2, 6}, ops.concat(List.of(a, a), 1).shape());
            float[] sm = ops.softmaxLastAxis(ops.fromFloats(new float[] {0, 0}, 1, 2))
                    .toFloats();
            assertArrayEquals(new float[] {0.5f, 0.5f}, sm, 1e-7f);
            float[] rms = ops.rmsNorm(
                            ops.fromFloats(new float[] {3, 4}, 1, 2), ops.fromFloats(new float[] {1, 2}, 2), 0)
                    .toFloats();
            float r = (float) Math.sqrt(12.5);
            assertArrayEquals(new float[] {3 / r, 8 / r}, rms, 1e-6f);
        }
    }

    @Test
    void reshapeOfASlicedPermutedViewFollowsLogicalOrder() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            float[] data = new float[24];
            for (int i = 0; i < 24; i++) {
                data[i] = i;
            }
            Tensor a = ops.permute(ops.fromFloats(data, 2, 3, 4), 1, 0, 2); // [3, 2, 4]
            Tensor b = ops.reshape(ops.slice(a, 0, 1, 2), 2, 4); // a[1] = rows x[0,1], x[1,1]
            assertArrayEquals(new float[] {4, 5, 6, 7, 16, 17, 18, 19}, b.toFloats());
            Tensor c = ops.slice(ops.reshape(a, 3, 8), 1, 4, 8); // [3, 4]
            assertArrayEquals(new float[] {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, c.toFloats());
            Tensor r = ops.rotary(
                    ops.fromFloats(new float[] {1, 2, 3, 4}, 1, 4),
                    ops.fromFloats(new float[] {1, 1, 1, 1}, 1, 4),
                    ops.fromFloats(new float[] {1, 1, 1, 1}, 1, 4));
            assertArrayEquals(new float[] {1 - 3, 2 - 4, 3 + 1, 4 + 2}, r.toFloats());
        }
    }

    @Test
    void keptTensorOutlivesChildScope() {
        try (Scope outer = backend.open()) {
            Tensor kept;
            try (Scope inner = outer.child()) {
                kept = inner.keep(backend.ops(inner).fromFloats(new float[] {7}, 1));
            }
            assertEquals(7f, kept.toFloats()[0]);
        }
    }

    @Test
    void opOnAClosedScopeIsAClearError() {
        Scope s = backend.open();
        Ops closed = backend.ops(s);
        s.close();
        assertThrows(IllegalStateException.class, () -> closed.zeros(1));
    }
}
