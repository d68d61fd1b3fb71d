package dev.jepd.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The per-family vision geometry, and the processor's defaults taken from it. */
class ModelFamilyTest {
    @Test
    void qwen2AndQwen25VlUse28PixelTokensAndQwen3Vl32() {
        assertEquals(28, ModelFamily.QWEN2_VL.factor());
        assertEquals(28, ModelFamily.QWEN2_5_VL.factor());
        assertEquals(32, ModelFamily.QWEN3_VL.factor());
        assertEquals(16, ModelFamily.QWEN3_VL.patchSize());
        for (ModelFamily f : ModelFamily.values()) {
            assertEquals(2, f.mergeSize(), f.flag());
            assertEquals(2, f.temporalPatchSize(), f.flag());
        }
    }

    @Test
    void thePreprocessorDefaultsAreTheDefaultFamilys() {
        assertEquals(ModelFamily.QWEN2_5_VL.preprocessorDefaults(), PreprocessorConfig.defaults());
        PreprocessorConfig d = PreprocessorConfig.defaults();
        assertEquals(14, d.patchSize());
        assertEquals(56L * 56, d.minPixels());
        assertEquals(28L * 28 * 1280, d.maxPixels());
        PreprocessorConfig q3 = ModelFamily.QWEN3_VL.preprocessorDefaults();
        assertEquals(32, q3.factor());
        assertEquals(65536L, q3.minPixels());
        assertEquals(16777216L, q3.maxPixels());
    }

    @Test
    void flagNamesParse() {
        assertEquals(ModelFamily.QWEN2_5_VL, ModelFamily.parse("qwen2.5-vl"));
        assertEquals(ModelFamily.QWEN2_VL, ModelFamily.parse("Qwen2-VL"));
        assertEquals(ModelFamily.QWEN3_VL, ModelFamily.parse("qwen3-vl"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelFamily.parse("qwen4"));
        assertEquals("unknown model family 'qwen4'; accepted: qwen2-vl, qwen2.5-vl, qwen3-vl", e.getMessage());
    }
}
