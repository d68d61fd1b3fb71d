package dev.jepd.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jepd.models.qwen25vl.Qwen25VlConfig;
import dev.jepd.models.tiny.TinyQwen25VlWriter;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The analytic FLOP and byte counts, written out by hand from the configs' dimensions. */
class Qwen25VlWorkTest {
    static Qwen25VlConfig tiny() throws IOException {
        return Qwen25VlConfig.fromJson(TinyQwen25VlWriter.config(TinyQwen25VlWriter.Options.golden()));
    }

    static Qwen25VlConfig shaped3B(int textLayers, int visionLayers) throws IOException {
        return Qwen25VlConfig.fromJson(TinyQwen25VlWriter.config(TinyQwen25VlWriter.Options.golden()
                .withShape(new TinyQwen25VlWriter.Qwen3BShaped(textLayers, visionLayers))));
    }

    @Test
    void tinyVisionTowerOnAn8x8Grid() throws IOException {
        // Tiny tower: hidden 80, intermediate 120, patch 1176 values, merger out 64, window 56 px = 2x2
        // merged units = 16 patches, full attention in blocks 1 and 3. 112x112 px = 8x8 patches = 4 windows.
        Qwen25VlWork.VisionFlops f = Qwen25VlWork.vision(tiny().vision(), 1, 8, 8);
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
        Qwen25VlWork.VisionFlops f = Qwen25VlWork.vision(shaped3B(1, 8).vision(), 1, 32, 32);
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
        Qwen25VlConfig c = tiny();
        long params = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128;
        assertEquals(params, Qwen25VlWork.layerMatrixParams(c));
        assertEquals(2 * 10 * params + 4 * 10 * 10 * 64, Qwen25VlWork.layerFlops(c, 10, 10));
        assertEquals(2 * params + 4 * 300 * 64, Qwen25VlWork.layerFlops(c, 1, 300));
        assertEquals(2 * (2 * 10 * params + 4 * 10 * 10 * 64) + 2L * 151936 * 64, Qwen25VlWork.prefillFlops(c, 10));
        // Per layer: matrices, q/k/v biases (64 + 32 + 32), two norms (64 each); f32.
        assertEquals(4 * (params + 128 + 128), Qwen25VlWork.layerWeightBytes(c));
        assertEquals(4 * (151936L * 64 + 64), Qwen25VlWork.headWeightBytes(c));
        assertEquals(
                2 * Qwen25VlWork.layerWeightBytes(c) + Qwen25VlWork.headWeightBytes(c),
                Qwen25VlWork.decodeWeightBytes(c));
    }

    @Test
    void shaped3BDecoderLayerIsTheDesignDocs308Mb() throws IOException {
        Qwen25VlConfig c = shaped3B(2, 1);
        long params = 2048L * 2048 * 2 + 2L * 2048 * 256 + 3L * 2048 * 11008;
        assertEquals(params, Qwen25VlWork.layerMatrixParams(c));
        assertEquals(4 * (params + 2048 + 2 * 256 + 2 * 2048), Qwen25VlWork.layerWeightBytes(c));
        assertEquals(308_307_968L, Qwen25VlWork.layerWeightBytes(c));
        assertEquals(1_244_667_904L, Qwen25VlWork.headWeightBytes(c));
    }
}
