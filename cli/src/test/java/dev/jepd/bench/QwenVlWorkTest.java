package dev.jepd.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.safetensors.DType;
import dev.jepd.models.qwen2.Qwen2TextParams;
import dev.jepd.models.tiny.TinyQwen25VlWriter;
import dev.jepd.models.tiny.TinyQwen2VlWriter;
import dev.jepd.models.tiny.TinyQwen3VlWriter;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The analytic FLOP and byte counts, written out by hand from the configs' dimensions. */
class QwenVlWorkTest {
    static BenchModel tiny() throws IOException {
        return BenchModel.of(TinyQwen25VlWriter.config(TinyQwen25VlWriter.Options.golden()));
    }

    static BenchModel shaped3B(int textLayers, int visionLayers) throws IOException {
        return BenchModel.of(TinyQwen25VlWriter.config(TinyQwen25VlWriter.Options.golden()
                .withShape(new TinyQwen25VlWriter.Qwen3BShaped(textLayers, visionLayers))));
    }

    @Test
    void tinyVisionTowerOnAn8x8Grid() throws IOException {
        // Tiny tower: hidden 80, intermediate 120, patch 1176 values, merger out 64, window 56 px = 2x2
        // merged units = 16 patches, full attention in blocks 1 and 3. 112x112 px = 8x8 patches = 4 windows.
        QwenVlWork.VisionFlops f = QwenVlWork.vision(tiny().vision(), 1, 8, 8);
        long n = 64;
        long products = 2 * n * 80 * (3 * 80 + 80 + 2 * 120 + 120);
        long windowed = 4 * (4 * 16 * 16 * 80);
        long full = 4 * 64 * 64 * 80;
        assertEquals(2 * n * 1176 * 80, f.patchEmbed());
        assertEquals(products + windowed, f.windowBlock());
        assertEquals(products + full, f.fullBlock());
        assertArrayEquals(
                new long[] {products + windowed, products + full, products + windowed, products + full}, f.blocks());
        assertEquals(2 * 16 * 320 * 320 + 2 * 16 * 320 * 64, f.merger());
        assertEquals(f.patchEmbed() + 2 * (products + windowed) + 2 * (products + full) + f.merger(), f.total());
    }

    @Test
    void shaped3BVisionTowerOn448Pixels() throws IOException {
        // 32x32 patches; 112 px windows = 8x8 patches, so 16 windows of 64.
        QwenVlWork.VisionFlops f = QwenVlWork.vision(shaped3B(1, 8).vision(), 1, 32, 32);
        long products = 2L * 1024 * 1280 * (3 * 1280 + 1280 + 3 * 3420);
        assertEquals(40_317_747_200L, products);
        assertEquals(products + 16L * 4 * 64 * 64 * 1280, f.windowBlock());
        assertEquals(products + 4L * 1024 * 1024 * 1280, f.fullBlock());
        assertEquals(f.fullBlock(), f.blocks()[7], "block 7 has full attention");
        assertEquals(f.windowBlock(), f.blocks()[6]);
        assertEquals(2L * 1024 * 1176 * 1280, f.patchEmbed());
        assertEquals(2L * 256 * 5120 * 5120 + 2L * 256 * 5120 * 2048, f.merger());
    }

    @Test
    void tinyDecoderPrefillAndDecode() throws IOException {
        // Hidden 64, 4 heads of 16, 2 KV heads, intermediate 128, vocab 151936, 2 layers, tied head.
        Qwen2TextParams c = tiny().text();
        long params = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128;
        assertEquals(params, QwenVlWork.layerMatrixParams(c));
        assertEquals(2 * 10 * params + 4 * 10 * 10 * 64, QwenVlWork.layerFlops(c, 10, 10));
        assertEquals(2 * params + 4 * 300 * 64, QwenVlWork.layerFlops(c, 1, 300));
        assertEquals(2 * (2 * 10 * params + 4 * 10 * 10 * 64) + 2L * 151936 * 64, QwenVlWork.prefillFlops(c, 10));
        // Per layer: matrices, q/k/v biases (64 + 32 + 32), two norms (64 each); f32.
        assertEquals(4 * (params + 128 + 128), QwenVlWork.layerWeightBytes(c));
        assertEquals(4 * (151936L * 64 + 64), QwenVlWork.headWeightBytes(c));
        assertEquals(
                2 * QwenVlWork.layerWeightBytes(c) + QwenVlWork.headWeightBytes(c), QwenVlWork.decodeWeightBytes(c));
    }

    @Test
    void shaped3BDecoderLayerIsTheDesignDocs308Mb() throws IOException {
        Qwen2TextParams c = shaped3B(2, 1).text();
        long params = 2048L * 2048 * 2 + 2L * 2048 * 256 + 3L * 2048 * 11008;
        assertEquals(params, QwenVlWork.layerMatrixParams(c));
        assertEquals(4 * (params + 2048 + 2 * 256 + 2 * 2048), QwenVlWork.layerWeightBytes(c));
        assertEquals(308_307_968L, QwenVlWork.layerWeightBytes(c));
        assertEquals(1_244_667_904L, QwenVlWork.headWeightBytes(c));
    }

    @Test
    void shaped2BQwen2VlOn448Pixels() throws IOException {
        BenchModel m = BenchModel.of(TinyQwen2VlWriter.config(new TinyQwen2VlWriter.Qwen2BShaped(2, 2), DType.BF16));
        // embed 1280, MLP 4 x 1280 = 5120 (fc1, fc2), full attention over the 32 x 32 frame in every block
        QwenVlWork.VisionFlops f = QwenVlWork.vision(m.vision(), 1, 32, 32);
        long products = 2L * 1024 * 1280 * (3 * 1280 + 1280 + 2 * 5120);
        assertEquals(products + 4L * 1024 * 1024 * 1280, f.fullBlock());
        assertEquals(f.fullBlock(), f.windowBlock(), "no windows in Qwen2-VL");
        assertEquals(2L * 256 * 5120 * 5120 + 2L * 256 * 5120 * 1536, f.merger());
        assertEquals(1, f.mergers());
        // text: hidden 1536, 12 heads of 128, 2 KV heads, intermediate 8960, q/k/v biases, tied head
        Qwen2TextParams t = m.text();
        long params = 1536L * 1536 * 2 + 2L * 1536 * 256 + 3L * 1536 * 8960;
        assertEquals(params, QwenVlWork.layerMatrixParams(t));
        assertEquals(2 * (params + 1536 + 2 * 256 + 2 * 1536), QwenVlWork.layerWeightBytes(t, 2));
        assertEquals(2 * (151936L * 1536 + 1536), QwenVlWork.headWeightBytes(t, 2));
    }

    @Test
    void shaped4BQwen3VlOn448PixelsKeepsDeepStackInsideTheKeptBlocks() throws IOException {
        var shape = new TinyQwen3VlWriter.Qwen4BShaped(2, 2);
        assertArrayEquals(new int[] {0, 1}, shape.deepstackIndexes(), "2 text layers: 2 levels, over 2 blocks");
        assertArrayEquals(new int[] {0, 0, 1}, new TinyQwen3VlWriter.Qwen4BShaped(3, 2).deepstackIndexes());
        assertArrayEquals(new int[] {5, 11, 17}, new TinyQwen3VlWriter.Qwen4BShaped(36, 24).deepstackIndexes());
        BenchModel m = BenchModel.of(TinyQwen3VlWriter.config(shape, DType.BF16));
        // patch 16: 448 px = 28 x 28 patches; hidden 1024, MLP 4096 (fc1, fc2); 3 mergers of 4096 -> 2560
        QwenVlWork.VisionFlops f = QwenVlWork.vision(m.vision(), 1, 28, 28);
        long n = 784;
        long products = 2L * n * 1024 * (3 * 1024 + 1024 + 2 * 4096);
        assertEquals(products + 4L * n * n * 1024, f.fullBlock());
        assertEquals(2L * n * 1536 * 1024, f.patchEmbed());
        assertEquals(2L * 196 * 4096 * 4096 + 2L * 196 * 4096 * 2560, f.merger());
        assertEquals(3, f.mergers());
        assertEquals(f.patchEmbed() + 2 * f.fullBlock() + 3 * f.merger(), f.total());
        // text: hidden 2560, 32 heads of 128, 8 KV heads, intermediate 9728, q/k norms and no biases, tied head
        Qwen2TextParams t = m.text();
        long params = 2560L * 4096 + 2L * 2560 * 1024 + 4096L * 2560 + 3L * 2560 * 9728;
        assertEquals(params, QwenVlWork.layerMatrixParams(t));
        assertEquals(2 * (params + 2 * 2560 + 2 * 128), QwenVlWork.layerWeightBytes(t, 2));
        assertTrue(t.tiedEmbeddings());
    }
}
