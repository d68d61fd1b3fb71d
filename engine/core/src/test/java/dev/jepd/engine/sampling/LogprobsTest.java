package dev.jepd.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class LogprobsTest {
    @Test
    void logSoftmaxOfChosenAndTopN() {
        float[] l = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};
        double z = 0;
        for (float v : l) {
            z += Math.exp(v);
        }
        TokenLogprobs lp = Logprobs.of(l, 2, 3);
        assertEquals(2, lp.tokenId());
        assertEquals(2.0 - Math.log(z), lp.logprob(), 1e-6);
        assertEquals(3, lp.rank(), "two tokens are more likely, counted with >= as vLLM does");
        assertArrayEquals(new int[] {1, 3, 2}, lp.topTokenIds());
        assertEquals(3.0 - Math.log(z), lp.topLogprobs()[0], 1e-6);
        assertEquals(lp.topLogprobs()[0], lp.topLogprobs()[1]);
        assertEquals(2, Logprobs.of(l, 1, 0).rank(), "a tie for the top counts both");
        assertEquals(1, Logprobs.of(new float[] {0f, 2f, 1f}, 1, 0).rank());
        assertEquals(0, Logprobs.of(l, 1, 0).topTokenIds().length);
        assertEquals(5, Logprobs.of(l, 1, 20).topTokenIds().length);
    }

    @Test
    void stableForLargeLogits() {
        float[] l = new float[151_936];
        l[7] = 1000f;
        TokenLogprobs lp = Logprobs.of(l, 7, 1);
        assertEquals(0.0, lp.logprob(), 1e-6);
        assertEquals(7, lp.topTokenIds()[0]);
    }
}
