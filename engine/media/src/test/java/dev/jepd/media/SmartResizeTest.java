package dev.jepd.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class SmartResizeTest {
    /** Every row of the CSV that transformers' own smart_resize produced (see make_media_refs.py). */
    @Test
    void matchesTransformersOnEveryReferenceCase() {
        List<String[]> rows = MediaResources.csv("smart_resize_cases.csv");
        assertTrue(rows.size() >= 50, "only " + rows.size() + " cases");
        int rejected = 0;
        for (String[] r : rows) {
            int h = Integer.parseInt(r[0]);
            int w = Integer.parseInt(r[1]);
            int factor = Integer.parseInt(r[2]);
            long min = Long.parseLong(r[3]);
            long max = Long.parseLong(r[4]);
            String what = "smart_resize(" + h + ", " + w + ", " + factor + ", " + min + ", " + max + ")";
            if (!r[7].isEmpty()) {
                rejected++;
                MediaException e =
                        assertThrows(MediaException.class, () -> SmartResize.resize(h, w, factor, min, max), what);
                assertEquals(MediaException.Reason.BAD_ASPECT_RATIO, e.reason(), what);
                assertTrue(e.getMessage().startsWith(r[7]), what + ": " + e.getMessage() + " vs " + r[7]);
                continue;
            }
            ImageSize s = SmartResize.resize(h, w, factor, min, max);
            assertEquals(new ImageSize(Integer.parseInt(r[5]), Integer.parseInt(r[6])), s, what);
        }
        assertTrue(rejected >= 4, "the CSV should hold aspect-ratio rejections, has " + rejected);
    }

    @Test
    void roundsHalfToEven() {
        // 42/28 = 1.5 -> 2 and 70/28 = 2.5 -> 2 (Math.round would give 3).
        assertEquals(new ImageSize(56, 56), SmartResize.resize(42, 56, 28, 3136, 12845056));
        assertEquals(new ImageSize(56, 56), SmartResize.resize(70, 56, 28, 3136, 12845056));
    }

    @Test
    void rejectsAZeroSide() {
        MediaException e = assertThrows(MediaException.class, () -> SmartResize.resize(0, 10, 28, 3136, 12845056));
        assertEquals(MediaException.Reason.TOO_SMALL, e.reason());
    }

    @Test
    void acceptsAspectRatioOfExactly200() {
        assertEquals(new ImageSize(28, 812), SmartResize.resize(1, 200, 28, 3136, 12845056));
        MediaException e = assertThrows(MediaException.class, () -> SmartResize.resize(1, 201, 28, 3136, 12845056));
        assertTrue(e.getMessage().contains("aspect ratio must be smaller than 200, got 201.0"), e.getMessage());
    }
}
