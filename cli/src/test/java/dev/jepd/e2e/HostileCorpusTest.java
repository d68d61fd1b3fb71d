package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.cli.HostileCorpusAccess;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The short version of {@code jepd bench chaos} in the test suite: the first 150 cases of the seeded hostile corpus
 * straight to the shared cluster's encoder and PD node; every answer is a 2xx or a 4xx with OpenAI error JSON,
 * within 30 s, and both processes live.
 */
class HostileCorpusTest {
    @Test
    void everyHostileRequestGetsA2xxOrAnOpenAiJson4xx() throws Exception {
        SharedCluster cluster = SharedCluster.get();
        List<String> broken = new ArrayList<>();
        int fourxx = 0;
        for (NodeProcess node : List.of(cluster.pd(), cluster.encoder())) {
            for (HostileCorpusAccess.Result r : HostileCorpusAccess.run(node.port(), 1, 150)) {
                if (r.violation() != null) {
                    broken.add(node.name() + ": " + r.what() + ": " + r.violation());
                }
                fourxx += r.status() / 100 == 4 ? 1 : 0;
            }
            assertTrue(node.alive(), node.name() + " died");
        }
        assertEquals(List.of(), broken);
        assertTrue(fourxx > 200, "the corpus is hostile: " + fourxx + " of 300 refused");
        // Bombs by declaration are refused from the header: 413, not a 500 or an allocation.
        for (int[] dims : new int[][] {{40_000, 40_000}, {13_000, 13_000}}) {
            Http.Response r = Http.post(
                    cluster.pd().url() + "/v1/chat/completions",
                    Requests.chat("tiny", HostileCorpusAccess.pngDataUrl(dims[0], dims[1]), "hi", 2, false)
                            .toString());
            assertEquals(413, r.status(), dims[0] + "x" + dims[1] + ": " + r.body());
        }
    }
}
