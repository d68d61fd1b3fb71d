package dev.jepd.models.tiny;

import dev.jepd.engine.safetensors.DType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The golden checkpoint's weight generator (shared/golden/README.md): element {@code i} of tensor
 * {@code name} is a pure function of {@code (name, seed, i)}, so chunks can be generated independently and
 * in parallel. Values are made in float64, rounded to float32, then to bf16 (round to nearest even); f32
 * files store the bf16 value widened, so both dtypes load to identical floats.
 */
public final class CounterWeights {
    /** The golden checkpoint's seed. */
    public static final long GOLDEN_SEED = 40;

    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;
    private static final long ELEMENT_STRIDE = 0xD1B54A32D192ED03L;
    private static final double SQRT3 = Math.sqrt(3);

    private CounterWeights() {}

    /** {@code fnv1a64(utf8(name)) XOR seed * 0x9E3779B97F4A7C15} (mod 2^64). */
    public static long tensorKey(String name, long seed) {
        long h = 0xcbf29ce484222325L;
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xFF)) * 0x100000001b3L;
        }
        return h ^ (seed * GOLDEN_GAMMA);
    }

    /** Element {@code i} of the stream {@code key}: uniform in [-1, 1) with 53 random bits. */
    public static double uniform(long key, long i) {
        long z = i * ELEMENT_STRIDE + key + GOLDEN_GAMMA;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return 2 * ((z >>> 11) * 0x1.0p-53) - 1;
    }

    /** The float64 value before any rounding; evaluation order as in the reference. */
    static double value(TensorSpec.Kind kind, double scale, double u) {
        return switch (kind) {
            case W -> u * scale * SQRT3;
            case N -> 1 + u * scale;
        };
    }

    /** The bf16 bits of element {@code i}. */
    static short bf16(TensorSpec t, long key, long i) {
        return dev.jepd.tensor.DType.floatToBf16((float) value(t.kind(), t.scale(), uniform(key, i)));
    }

    /** The whole tensor as the floats a reader gets back from either dtype. */
    public static float[] floats(TensorSpec t, long seed) {
        long key = tensorKey(t.name(), seed);
        float[] out = new float[Math.toIntExact(t.numel())];
        for (int i = 0; i < out.length; i++) {
            out[i] = dev.jepd.tensor.DType.bf16ToFloat(bf16(t, key, i));
        }
        return out;
    }

    /** Writes elements {@code [from, from + count)} as little-endian {@code dtype} (BF16 or F32) into {@code out}. */
    static void fill(TensorSpec t, long key, long from, int count, DType dtype, ByteBuffer out) {
        out.order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case BF16 -> {
                for (int j = 0; j < count; j++) {
                    out.putShort(bf16(t, key, from + j));
                }
            }
            case F32 -> {
                for (int j = 0; j < count; j++) {
                    out.putFloat(dev.jepd.tensor.DType.bf16ToFloat(bf16(t, key, from + j)));
                }
            }
            case F16, F64, I64, I32, I16, I8, U8, BOOL ->
                throw new UnsupportedOperationException("generated weights as " + dtype + " (BF16 or F32 only)");
        }
    }
}
