package dev.jepd.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** The hostile corpus of {@code jepd bench chaos} for the e2e tests (another package). */
public final class HostileCorpusAccess {
    private HostileCorpusAccess() {}

    /** One answer: the case, its status, and why it broke the rule (null when it did not). */
    public record Result(String what, int status, String violation, long millis) {}

    /**
     * Sends the first {@code count} cases of the corpus seeded with {@code seed} to a loopback port, 8 at a time,
     * leaving out those only the body deadline ends (the engine/api tests cover those with a short deadline).
     */
    public static List<Result> run(int port, long seed, int count) throws Exception {
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<HostileCorpus.Outcome>> sent = new ArrayList<>();
            for (HostileCorpus.Case c : HostileCorpus.generate(seed, count, "tiny")) {
                if (c.untilBodyDeadline()) {
                    continue;
                }
                sent.add(pool.submit(() -> HostileCorpus.send("127.0.0.1", port, c)));
            }
            List<Result> out = new ArrayList<>();
            for (Future<HostileCorpus.Outcome> f : sent) {
                HostileCorpus.Outcome o = f.get();
                out.add(new Result(o.c().what(), o.status(), o.violation(), o.millis()));
            }
            return out;
        }
    }

    /**
     * {@code jepd bench chaos}'s correctness run: {@code requests} greedy requests (four images, two texts) at
     * {@code concurrency} through a proxy, each answer compared with its single-request answer; the rules broken
     * (empty when none was lost or mixed up).
     */
    public static List<String> correctness(String proxyUrl, int requests, int concurrency) throws Exception {
        List<String> broken = new ArrayList<>();
        ChaosRuns.correctness(proxyUrl, requests, concurrency, broken);
        return broken;
    }

    public static String pngDataUrl(int width, int height) {
        return HostileCorpus.pngDataUrl(width, height);
    }
}
