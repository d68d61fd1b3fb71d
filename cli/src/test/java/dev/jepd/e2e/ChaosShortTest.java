package dev.jepd.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.cli.HostileCorpusAccess;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The short version of {@code jepd bench chaos}'s runs through the proxy, on the shared E+PD cluster (real
 * processes): 192 greedy requests at c=32 each equal to its single-request answer, and the first 150 hostile
 * cases sent to the proxy answered with a 2xx or an OpenAI-JSON 4xx. Kills, SIGTERM and slow sockets have their
 * own tests (FailoverClusterTest, NodeLifecycleTest, ProxyLifecycleTest, ProxyServerLimitsTest).
 */
class ChaosShortTest {
    @Test
    void concurrentRequestsThroughTheProxyEqualTheirSingleRequestAnswers() throws Exception {
        SharedCluster cluster = SharedCluster.get();
        assertEquals(List.of(), HostileCorpusAccess.correctness(cluster.proxy().url(), 192, 32));
        assertTrue(cluster.proxy().alive()
                && cluster.pd().alive()
                && cluster.encoder().alive());
    }

    @Test
    void hostileRequestsThroughTheProxyGetA2xxOrAnOpenAiJson4xx() throws Exception {
        SharedCluster cluster = SharedCluster.get();
        List<String> broken = new ArrayList<>();
        for (HostileCorpusAccess.Result r :
                HostileCorpusAccess.run(cluster.proxy().port(), 1, 150)) {
            if (r.violation() != null) {
                broken.add(r.what() + ": " + r.violation());
            }
        }
        assertEquals(List.of(), broken);
        assertTrue(cluster.proxy().alive(), "the proxy died");
    }
}
