package dev.jepd.api;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code --limit-mm-per-prompt} as vLLM takes it, and the 400 that names the limit. */
class MediaLimitsTest {
    @Test
    void jsonAndKeyValueFormsParseAlike() {
        assertEquals(
                Map.of("image", 4, "video", 0),
                MediaLimits.parse("{\"image\": 4, \"video\": 0}").perPrompt());
        assertEquals(
                Map.of("image", 4, "video", 0),
                MediaLimits.parse("image=4,video=0").perPrompt());
        assertEquals(MediaLimits.NONE, MediaLimits.parse(""));
        assertEquals(MediaLimits.NONE, MediaLimits.parse(null));
    }

    @ParameterizedTest
    @ValueSource(strings = {"{\"image\": -1}", "{\"image\": 1.5}", "{\"image\": \"4\"}", "{image", "image", "image=x"})
    void badValuesAreStartUpErrors(String flag) {
        assertThrows(IllegalArgumentException.class, () -> MediaLimits.parse(flag));
    }

    @Test
    void moreItemsThanTheLimitAreA400NamingIt() {
        MediaLimits limits = MediaLimits.parse("{\"image\": 2}");
        assertDoesNotThrow(() -> limits.check("image", 2));
        assertDoesNotThrow(() -> limits.check("video", 9)); // a modality the flag does not name is unbounded
        ApiException e = assertThrows(ApiException.class, () -> limits.check("image", 3));
        assertEquals(400, e.status());
        assertEquals(
                "You set '{\"image\": 2}' in `--limit-mm-per-prompt`, but passed 3 image items in the same prompt.",
                e.getMessage());
        ApiException none = assertThrows(
                ApiException.class, () -> MediaLimits.parse("image=0").check("image", 1));
        assertEquals(400, none.status());
    }
}
