package dev.jepd.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.api.ApiException;
import dev.jepd.api.ImageItem;
import dev.jepd.api.MediaLimits;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The nodes' {@code --limit-mm-per-prompt}: a request over it is refused before any image is loaded (nothing here
 * could load one: no runtime, no loader), on the encoder and the PD node alike (both load through these inputs).
 */
class MultimodalInputsLimitTest {
    @Test
    void moreImagesThanTheLimitAre400BeforeAnythingLoads() {
        MultimodalInputs inputs = new MultimodalInputs(null, null, null, null, false, false, null, "m", null, null)
                .withMediaLimits(MediaLimits.parse("{\"image\": 1}"));
        List<ImageItem> two = List.of(
                new ImageItem(0, "data:image/png;base64,AAAA", null, "messages[0].content[0]"),
                new ImageItem(1, "data:image/png;base64,AAAA", null, "messages[0].content[1]"));
        ApiException e = assertThrows(ApiException.class, () -> inputs.load(two, false, null));
        assertEquals(400, e.status());
        assertTrue(e.getMessage().contains("--limit-mm-per-prompt")
                && e.getMessage().contains("passed 2 image"));
        assertEquals(List.of(), inputs.load(List.of(), false, null));
    }
}
