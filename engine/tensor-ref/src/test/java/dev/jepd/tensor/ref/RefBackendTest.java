package dev.jepd.tensor.ref;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackendProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The oracle against values computed by hand (never against itself). */
class RefBackendTest {
    private final RefBackend backend = new RefBackend();
    private Ops ops; // bound to the scope each test opens
    private static final float INF = Float.POSITIVE_INFINITY;

    private Tensor t(float[] d, long... shape) {
        return ops.fromFloats(d, shape);
    }

    @Test
    void elementwiseBroadcastsLikeNumpy() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            Tensor a = t(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            Tensor row = t(new float[] {10, 20, 30}, 3);
            Tensor col = t(new float[] {100, 200}, 2, 1);
            assertArrayEquals(
                    new float[] {11, 22, 33, 14, 25, 36}, ops.add(a, row).toFloats());
            assertArrayEquals(
                    new float[] {101, 102, 103, 204, 205, 206}, ops.add(a, col).toFloats());
            assertArrayEquals(
                    new float[] {-9, -18, -27, -6, -15, -24}, ops.sub(a, row).toFloats());
            assertArrayEquals(
                    new float[] {10, 40, 90, 40, 100, 180}, ops.mul(a, row).toFloats());
            assertArrayEquals(
                    new float[] {0.5f, 1, 1.5f, 1, 1.25f, 1.5f},
                    ops.div(a, t(new float[] {2, 2, 2, 4, 4, 4}, 2, 3)).toFloats());
            assertArrayEquals(
                    new long[] {2, 2, 3}, ops.add(a, t(new float[2], 2, 1, 1)).shape());
            assertArrayEquals(
                    new float[] {2, 4}, ops.scale(t(new float[] {1, 2}, 2), 2).toFloats());
            assertArrayEquals(
                    new float[] {1.5f},
                    ops.addScalar(t(new float[] {1}, 1), 0.5f).toFloats());
            assertArrayEquals(
                    new float[] {-1, 2}, ops.neg(t(new float[] {1, -2}, 2)).toFloats());
            assertArrayEquals(new float[] {3}, ops.sqrt(t(new float[] {9}, 1)).toFloats());
            assertThrows(IllegalArgumentException.class, () -> ops.add(a, t(new float[2], 2)));
        }
    }

    @Test
    void transcendentalsAtKnownPoints() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            Tensor x = t(new float[] {0, 1, -1}, 3);
            assertArrayEquals(
                    new float[] {1, 0.5403023f, 0.5403023f}, ops.cos(x).toFloats(), 1e-7f);
            assertArrayEquals(
                    new float[] {0, 0.84147096f, -0.84147096f}, ops.sin(x).toFloats(), 1e-7f);
            assertArrayEquals(
                    new float[] {0.5f, 0.7310586f, 0.26894143f}, ops.sigmoid(x).toFloats(), 1e-7f);
            assertArrayEquals(
                    new float[] {0, 0.7310586f, -0.26894143f}, ops.silu(x).toFloats(), 1e-7f);
            // torch.nn.functional.gelu(torch.tensor([0., 1., -1.])) = [0, 0.8413, -0.1587]
            assertArrayEquals(
                    new float[] {0, 0.8413447f, -0.15865526f}, ops.gelu(x).toFloats(), 1e-7f);
            assertEquals(0.8427007929497149, RefOps.erf(1), 1e-15);
            assertEquals(-0.9953222650189527, RefOps.erf(-2), 1e-15);
            assertEquals(0.9999999845827421, RefOps.erf(4), 1e-15);
        }
    }

    @Test
    void meanAndSoftmax() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            Tensor a = t(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            Tensor m = ops.meanLastAxis(a);
            assertArrayEquals(new long[] {2, 1}, m.shape());
            assertArrayEquals(new float[] {2, 5}, m.toFloats());
            float e = (float) Math.E;
            float[] sm = ops.softmaxLastAxis(t(new float[] {0, 1, -INF, 3, -INF, -INF}, 2, 3))
                    .toFloats();
            assertArrayEquals(new float[] {1 / (1 + e), e / (1 + e), 0, 1, 0, 0}, sm, 1e-7f);
            assertTrue(Float.isNaN(
                    ops.softmaxLastAxis(t(new float[] {-INF, -INF}, 1, 2)).toFloats()[0]));
        }
    }

    @Test
    void matmulAndLinear() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            Tensor a = t(new float[] {1, 2, 3, 4}, 2, 2);
            Tensor b = t(new float[] {5, 6, 7, 8}, 2, 2);
            assertArrayEquals(new float[] {19, 22, 43, 50}, ops.matmul(a, b).toFloats());
            // Leading-axis broadcast: [2, 1, 2] @ [2, 2] -> [2, 1, 2]
            Tensor rows = t(new float[] {1, 0, 0, 1}, 2, 1, 2);
            Tensor r = ops.matmul(rows, b);
            assertArrayEquals(new long[] {2, 1, 2}, r.shape());
            assertArrayEquals(new float[] {5, 6, 7, 8}, r.toFloats());
            assertArrayEquals(
                    new float[] {17, 39},
                    ops.matmul(a, t(new float[] {5, 6}, 2)).toFloats());
            Tensor w = t(new float[] {1, 2, 3, 4, 5, 6}, 2, 3); // [out=2, in=3]
            Tensor bias = t(new float[] {10, 20}, 2);
            assertArrayEquals(
                    new float[] {8, 18},
                    ops.linear(t(new float[] {1, 0, -1}, 1, 3), w, bias).toFloats());
            Tensor y = ops.linear(t(new float[] {1, 0, -1, 1, 1, 1}, 2, 1, 3), w, null);
            assertArrayEquals(new long[] {2, 1, 2}, y.shape());
            assertArrayEquals(new float[] {-2, -2, 6, 15}, y.toFloats());
            assertArrayEquals(
                    new long[] {0, 2}, ops.linear(ops.zeros(0, 3), w, bias).shape());
        }
    }

    @Test
    void shapeOps() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            Tensor a = t(new float[] {0, 1, 2, 3, 4, 5}, 2, 3);
            assertArrayEquals(
                    new float[] {0, 3, 1, 4, 2, 5}, ops.permute(a, 1, 0).toFloats());
            assertArrayEquals(
                    new float[] {0, 3, 1, 4, 2, 5}, ops.permute(a, -1, 0).toFloats());
            assertArrayEquals(new long[] {3, 2}, ops.reshape(a, -1, 2).shape());
            assertArrayEquals(new float[] {1, 2, 4, 5}, ops.slice(a, 1, 1, 3).toFloats());
            assertArrayEquals(new long[] {2, 0}, ops.slice(a, -1, 3, 3).shape());
            assertThrows(IllegalArgumentException.class, () -> ops.slice(a, 1, 2, 4));
            assertArrayEquals(
                    new float[] {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5},
                    ops.concat(List.of(a, a), -1).toFloats());
            assertArrayEquals(
                    new float[] {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5},
                    ops.concat(List.of(a, a), 0).toFloats());
            Tensor cache = ops.zeros(4, 2);
            ops.scatterRows(cache, ops.fromLongs(new long[] {3, 1}, 2), t(new float[] {1, 2, 3, 4}, 2, 2));
            assertArrayEquals(new float[] {0, 0, 3, 4, 0, 0, 1, 2}, cache.toFloats());
            Tensor g = ops.gatherRows(cache, ops.fromLongs(new long[] {3, 3, 1}, 3));
            assertArrayEquals(new float[] {1, 2, 1, 2, 3, 4}, g.toFloats());
            assertThrows(
                    IndexOutOfBoundsException.class, () -> ops.gatherRows(cache, ops.fromLongs(new long[] {4}, 1)));
        }
    }

    @Test
    void compositesByHand() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            float r = (float) Math.sqrt(12.5);
            float[] rms = ops.rmsNorm(t(new float[] {3, 4}, 1, 2), t(new float[] {1, 2}, 2), 0)
                    .toFloats();
            assertArrayEquals(new float[] {3 / r, 8 / r}, rms, 1e-6f);
            float[] ln = ops.layerNorm(
                            t(new float[] {1, 3}, 1, 2), t(new float[] {1, 1}, 2), t(new float[] {0, 1}, 2), 0)
                    .toFloats();
            assertArrayEquals(new float[] {-1, 2}, ln, 1e-6f);
            // q·k = [0, 1] with scale 1: softmax [1/(1+e), e/(1+e)] weights values 0 and 10.
            Tensor q = t(new float[] {1}, 1, 1);
            Tensor k = t(new float[] {0, 1}, 2, 1);
            Tensor v = t(new float[] {0, 10}, 2, 1);
            float e = (float) Math.E;
            assertArrayEquals(
                    new float[] {10 * e / (1 + e)},
                    ops.attention(q, k, v, null, 1).toFloats(),
                    1e-5f);
            Tensor mask = t(new float[] {0, Float.NEGATIVE_INFINITY}, 1, 2);
            assertArrayEquals(new float[] {0}, ops.attention(q, k, v, mask, 1).toFloats());
            float[] rot = ops.rotary(
                            t(new float[] {1, 2, 3, 4}, 1, 4),
                            t(new float[] {1, 1, 1, 1}, 1, 4),
                            t(new float[] {1, 1, 1, 1}, 1, 4))
                    .toFloats();
            assertArrayEquals(new float[] {1 - 3, 2 - 4, 3 + 1, 4 + 2}, rot);
        }
    }

    @Test
    void pagedAndVarlenAttentionByHand() {
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
            // One head, d = 1, scale 1; cache slots 2 and 0 hold keys 0 and 1, values 0 and 10.
            Tensor keys = t(new float[] {1, 0, 0}, 3, 1, 1);
            Tensor values = t(new float[] {10, 0, 0}, 3, 1, 1);
            Tensor ctx = ops.fromLongs(new long[] {2, 0}, 2);
            Tensor q = t(new float[] {1, 1}, 2, 1, 1);
            Tensor kNew = t(new float[] {0, 1}, 2, 1, 1);
            Tensor vNew = t(new float[] {0, 10}, 2, 1, 1);
            float e = (float) Math.E;
            // Query 0 sees only key 0 (value 0); query 1 sees both.
            Tensor out = ops.pagedAttention(q, kNew, vNew, keys, values, ctx, 0, 1);
            assertArrayEquals(new long[] {2, 1, 1}, out.shape());
            assertArrayEquals(new float[] {0, 10 * e / (1 + e)}, out.toFloats(), 1e-5f);
            // Decode of position 1 over the cache.
            Tensor dec = ops.pagedAttention(
                    ops.slice(q, 0, 1, 2), ops.slice(kNew, 0, 1, 2), ops.slice(vNew, 0, 1, 2), keys, values, ctx, 1, 1);
            assertArrayEquals(new float[] {10 * e / (1 + e)}, dec.toFloats(), 1e-5f);
            // Varlen: blocks {0,1} and {2}: token 2 attends only to itself.
            Tensor vq = t(new float[] {0, 0, 5}, 1, 3, 1);
            Tensor vv = t(new float[] {2, 4, 7}, 1, 3, 1);
            assertArrayEquals(
                    new float[] {3, 3, 7},
                    ops.varlenAttention(vq, vq, vv, new int[] {0, 2, 3}, 1).toFloats(),
                    1e-6f);
        }
    }

    @Test
    void bytesDtypesAndRegistrableMemory() {
        try (Scope s = backend.open();
                Arena arena = Arena.ofConfined()) {
            ops = backend.ops(s);
            MemorySegment bf16 = MemorySegment.ofArray(new byte[] {(byte) 0x80, 0x3F, 0x00, (byte) 0xC0}); // 1, -2
            Tensor w = ops.load(bf16, DType.BF16, 2);
            assertEquals(DType.F32, w.dtype());
            assertArrayEquals(new float[] {1, -2}, w.toFloats());
            MemorySegment f16 = MemorySegment.ofArray(new byte[] {0x00, 0x3C, 0x00, 0x38}); // 1, 0.5
            assertArrayEquals(new float[] {1, 0.5f}, ops.load(f16, DType.F16, 2).toFloats());
            MemorySegment out = arena.allocate(8);
            backend.copyOut(w, out);
            assertArrayEquals(
                    new byte[] {0, 0, (byte) 0x80, 0x3F, 0, 0, 0, (byte) 0xC0},
                    out.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            assertEquals(-1, out.mismatch(backend.registrable(w).orElseThrow()));
            Tensor idx = ops.fromLongs(new long[] {5, 6}, 2);
            assertEquals(DType.I64, idx.dtype());
            assertArrayEquals(new long[] {5, 6}, idx.toLongs());
            assertThrows(IllegalArgumentException.class, () -> ops.load(bf16, DType.F32, 2));
        }
    }

    @Test
    void scopesKeepAndInvalidate() {
        Tensor dead;
        Ops outerOps;
        Tensor orphan;
        try (Scope outer = backend.open()) {
            outerOps = backend.ops(outer);
            Tensor kept;
            try (Scope inner = outer.child()) {
                Ops innerOps = backend.ops(inner);
                kept = inner.keep(innerOps.fromFloats(new float[] {7}, 1));
                dead = innerOps.fromFloats(new float[] {8}, 1);
            }
            assertEquals(7f, kept.toFloats()[0]);
            assertThrows(IllegalStateException.class, dead::toFloats);
            Scope open = outer.child();
            orphan = backend.ops(open).fromFloats(new float[] {9}, 1);
            assertThrows(IllegalStateException.class, () -> outer.keep(kept)); // a root has no parent
        }
        assertThrows(IllegalStateException.class, () -> outerOps.zeros(1));
        assertThrows(IllegalStateException.class, orphan::toFloats); // closing a scope closes its open children
    }

    @Test
    void bothBackendsAreDiscoverableAndRankedByProvider() {
        List<String> names = TensorBackendProvider.available().stream()
                .map(TensorBackendProvider::name)
                .toList();
        assertTrue(names.contains("ref"), names.toString());
        assertEquals("ref", names.getLast());
    }
}
