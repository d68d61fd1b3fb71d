package dev.jepd.media;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** Request kwargs over server defaults, including kwargs that name neither bound (once a 500). */
class PixelBoundsTest {
    @Test
    void kwargsWithoutEitherBoundKeepTheDefaults() throws Exception {
        ObjectMapper json = new ObjectMapper();
        assertEquals(PixelBounds.NONE, PixelBounds.NONE.overriddenBy(json.readTree("{\"a\":[]}")));
        assertEquals(
                new PixelBounds(null, 1000L), PixelBounds.NONE.overriddenBy(json.readTree("{\"max_pixels\":1000}")));
        assertEquals(
                new PixelBounds(10L, 1000L),
                new PixelBounds(10L, null).overriddenBy(json.readTree("{\"max_pixels\":1000}")));
    }
}
