package dev.jepd.transfer.vllm;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The KV block layout vLLM's NixlConnector registers and reads, made from JEPD's rows: per layer a K and a V
 * region, each block {@code [kv_heads, block_size, head_dim]} (vLLM's "HND") in bf16 little-endian. JEPD's own
 * cache keeps {@code [block_size, kv_heads, head_dim]} (NHD) rows in the backend's dtype, often f32, and its block
 * size need not be vLLM's, so a prompt is re-cut into vLLM-sized blocks and transposed here rather than read in
 * place.
 */
public final class HndBlocks {
    static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private HndBlocks() {}

    /** Bytes of one vLLM block in one region: {@code kvHeads × blockSize × headDim × 2}. */
    public static long blockBytes(KvLayout layout, int vllmBlockSize) {
        return (long) layout.kvHeads() * vllmBlockSize * layout.headDim() * 2;
    }

    /** vLLM blocks a prompt of {@code promptTokens} fills. */
    public static int blocksFor(int promptTokens, int vllmBlockSize) {
        return (promptTokens + vllmBlockSize - 1) / vllmBlockSize;
    }

    /**
     * Writes block {@code j} (of {@link #blocksFor}) of {@code layer}'s K ({@code value} false) or V as vLLM
     * holds it into {@code dst} ({@link #blockBytes} long). Positions at or past {@code promptTokens} are zero.
     */
    public static void writeBlock(
            KvBlocks blocks, int promptTokens, int layer, boolean value, int j, int vllmBlockSize, MemorySegment dst) {
        KvLayout l = blocks.layout();
        float[] rows = value ? blocks.values()[layer] : blocks.keys()[layer];
        int heads = l.kvHeads();
        int dim = l.headDim();
        int row = l.rowFloats();
        long pos = 0;
        for (int h = 0; h < heads; h++) {
            for (int t = 0; t < vllmBlockSize; t++) {
                int token = j * vllmBlockSize + t;
                if (token >= promptTokens) {
                    dst.asSlice(pos, (long) dim * 2).fill((byte) 0);
                } else {
                    int base = token * row + h * dim;
                    for (int d = 0; d < dim; d++) {
                        dst.set(LE_SHORT, pos + 2L * d, bf16(rows[base + d]));
                    }
                }
                pos += 2L * dim;
            }
        }
    }

    /** torch's float → bfloat16: round to nearest, ties to even; NaN stays a (quiet) NaN. */
    public static short bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
