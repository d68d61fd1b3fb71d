package dev.jepd.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class BicubicResizeTest {
    private final ImageDecoder decoder = new ImageDecoder();

    /** PIL's Image.resize(BICUBIC) outputs, byte for byte: up, down, one axis only, to 1x1. */
    @Test
    void matchesPillowBitForBit() {
        List<String[]> rows = MediaResources.csv("bicubic/index.csv");
        assertTrue(rows.size() >= 10, "only " + rows.size() + " references");
        StringBuilder failures = new StringBuilder();
        for (String[] r : rows) {
            RgbImage src = decoder.decode(MediaResources.bytes("src/" + r[0]));
            int w = Integer.parseInt(r[1]);
            int h = Integer.parseInt(r[2]);
            RgbImage out = BicubicResize.resize(src, w, h);
            assertEquals(w, out.width(), r[3]);
            assertEquals(h, out.height(), r[3]);
            int diff = MediaResources.maxAbsDiff(MediaResources.bytes("bicubic/" + r[3]), out.rgb());
            if (diff != 0) {
                failures.append(r[3]).append(": max |diff| ").append(diff).append('\n');
            }
        }
        assertEquals("", failures.toString());
    }

    @Test
    void sameSizeIsIdentity() {
        RgbImage src = decoder.decode(MediaResources.bytes("src/img_112x84.png"));
        assertSame(src, BicubicResize.resize(src, 112, 84));
    }

    @Test
    void kernelIsPillowsBicubicWithAMinusHalf() {
        assertEquals(1.0, BicubicResize.bicubic(0));
        assertEquals(0.0, BicubicResize.bicubic(1), 0.0);
        assertEquals(0.0, BicubicResize.bicubic(2), 0.0);
        assertEquals(0.5625, BicubicResize.bicubic(0.5));
        assertEquals(-0.0625, BicubicResize.bicubic(1.5));
    }
}
