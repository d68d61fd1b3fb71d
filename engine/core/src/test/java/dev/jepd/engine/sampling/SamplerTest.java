package dev.jepd.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static final int[] NO_PROMPT = new int[0];

    private static float[] randomLogits(int vocab, long seed, double spread) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] l = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            l[i] = (float) (r.nextGaussian() * spread);
        }
        return l;
    }

    private static SamplingState state(SamplingParams p) {
        return new SamplingState(p, NO_PROMPT);
    }

    @Test
    void argmaxKeepsTheOnePassRuleForSignedZerosInfinitiesAndNaNs() {
        assertEquals(1, Sampler.argmax(new float[] {-1f, -0f, 0f})); // -0 and +0 compare equal: the first
        assertEquals(0, Sampler.argmax(new float[] {0f, -0f}));
        assertEquals(0, Sampler.argmax(new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY}));
        assertEquals(2, Sampler.argmax(new float[] {1f, Float.NaN, 2f, 2f})); // a NaN never wins...
        assertEquals(0, Sampler.argmax(new float[] {Float.NaN, 5f})); // ...unless it comes first
        assertEquals(1, Sampler.argmax(new float[] {1f, Float.POSITIVE_INFINITY, Float.NaN}));
    }

    @Test
    void greedyIsArgmaxFirstOnTies() {
        Sampler s = new Sampler(1);
        float[] l = {0.5f, 3f, -1f, 3f, 2.9f};
        assertEquals(1, s.sample(l, state(SamplingParams.greedy(4))));
        assertEquals(1, Sampler.argmax(l));
        float[] big = randomLogits(151_936, 7, 3);
        int expected = 0;
        for (int i = 1; i < big.length; i++) {
            if (big[i] > big[expected]) {
                expected = i;
            }
        }
        float[] copy = big.clone();
        assertEquals(expected, s.sample(big, state(SamplingParams.greedy(4))));
        assertTrue(Arrays.equals(copy, big), "the caller's logits must not change");
        float[] allEqual = new float[10];
        assertEquals(0, s.sample(allEqual, state(SamplingParams.greedy(4))));
    }

    @Test
    void topKOneIsGreedyAtAnyTemperature() {
        Sampler s = new Sampler(2);
        for (int trial = 0; trial < 20; trial++) {
            float[] l = randomLogits(151_936, 100 + trial, 2);
            int greedy = Sampler.argmax(l);
            for (double t : new double[] {0.05, 0.7, 1.0, 2.0}) {
                SamplingParams p = SamplingParams.builder()
                        .temperature(t)
                        .topK(1)
                        .topP(trial % 2 == 0 ? 1.0 : 0.5)
                        .build();
                assertEquals(greedy, s.sample(l, state(p)), "temperature " + t);
            }
        }
    }

    @Test
    void seededRequestsAreReproducibleWhateverElseRuns() {
        float[][] steps = new float[12][];
        for (int i = 0; i < steps.length; i++) {
            steps[i] = randomLogits(5000, 40 + i, 1.5);
        }
        SamplingParams seeded =
                SamplingParams.builder().temperature(0.9).topP(0.95).seed(1234L).build();

        Sampler alone = new Sampler(1);
        SamplingState a = state(seeded);
        List<Integer> first = new ArrayList<>();
        for (float[] l : steps) {
            first.add(alone.sample(l, a));
        }

        // Another sampler, with unseeded and differently seeded neighbours sampled in between.
        Sampler busy = new Sampler(99);
        SamplingState b = state(seeded);
        SamplingState other = state(seeded.toBuilder().seed(77L).build());
        SamplingState unseeded = state(seeded.toBuilder().seed(null).build());
        List<Integer> second = new ArrayList<>();
        for (float[] l : steps) {
            busy.sample(l, unseeded);
            busy.sample(l, other);
            second.add(busy.sample(l, b));
            busy.sample(l, unseeded);
        }
        assertEquals(first, second);

        SamplingState c = state(seeded.toBuilder().seed(1235L).build());
        List<Integer> third = new ArrayList<>();
        for (float[] l : steps) {
            third.add(alone.sample(l, c));
        }
        assertNotEquals(first, third, "a different seed should give a different sequence");
    }

    /** At temperature 1 the draws follow softmax(logits): a chi-square test at p = 0.001, deterministic. */
    @Test
    void frequenciesMatchSoftmax() {
        float[] l = {1.0f, 0.0f, -0.5f, 2.0f, 0.3f};
        double[] p = softmax(l, 1.0);
        int draws = 200_000;
        for (Long seed : new Long[] {42L, null}) {
            Sampler s = new Sampler(5);
            SamplingState st = state(SamplingParams.builder().seed(seed).build());
            int[] counts = new int[l.length];
            for (int i = 0; i < draws; i++) {
                counts[s.sample(l, st)]++;
            }
            double chi2 = 0;
            for (int i = 0; i < l.length; i++) {
                double expected = p[i] * draws;
                chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
            }
            assertTrue(chi2 < 18.47, "chi-square " + chi2 + " for counts " + Arrays.toString(counts));
        }
    }

    @Test
    void temperatureSharpensTheDistribution() {
        float[] l = {1.0f, 0.0f, -0.5f, 2.0f, 0.3f};
        double[] p = softmax(l, 0.5);
        Sampler s = new Sampler(6);
        SamplingState st =
                state(SamplingParams.builder().temperature(0.5).seed(3L).build());
        int[] counts = new int[l.length];
        int draws = 100_000;
        for (int i = 0; i < draws; i++) {
            counts[s.sample(l, st)]++;
        }
        for (int i = 0; i < l.length; i++) {
            assertEquals(p[i], counts[i] / (double) draws, 0.01, "token " + i);
        }
    }

    @Test
    void topPCutsTheTail() {
        // probabilities 0.5, 0.25, 0.15, 0.10: top_p 0.7 keeps the first two, renormalised to 2/3 and 1/3.
        float[] l = logitsOf(0.5, 0.25, 0.15, 0.10);
        SamplingParams p = SamplingParams.builder().topP(0.7).build();
        for (int k = 0; k < 1000; k++) {
            double u = k / 1000.0;
            int expected = u < 2.0 / 3.0 - 1e-9 ? 0 : 1;
            if (Math.abs(u - 2.0 / 3.0) > 1e-6) {
                assertEquals(expected, Sampler.sampleScaled(l.clone(), p, u), "u = " + u);
            }
        }
        // top_p 0.8 also keeps the third (0.75 < 0.8 before it).
        SamplingParams p8 = SamplingParams.builder().topP(0.8).build();
        assertEquals(2, Sampler.sampleScaled(l.clone(), p8, 0.95));
        assertEquals(
                1,
                Sampler.sampleScaled(
                        l.clone(), SamplingParams.builder().topP(0.8).build(), 0.8));
        // Nearly equal logits (one bucket of the partial selection): 0.2537, 0.2512, 0.2487, 0.2462.
        float[] close = {0f, -0.01f, -0.02f, -0.03f};
        SamplingParams half = SamplingParams.builder().topP(0.5).build();
        int[] counts = new int[4];
        for (int k = 0; k < 1000; k++) {
            counts[Sampler.sampleScaled(close.clone(), half, (k + 0.5) / 1000)]++;
        }
        assertTrue(counts[0] > 480 && counts[1] > 480 && counts[2] == 0 && counts[3] == 0, Arrays.toString(counts));
        // A tiny top_p still keeps the most likely token.
        assertEquals(
                0,
                Sampler.sampleScaled(
                        l.clone(), SamplingParams.builder().topP(0.01).build(), 0.99));
    }

    @Test
    void minPDropsUnlikelyTokens() {
        float[] l = logitsOf(0.5, 0.25, 0.15, 0.10);
        SamplingParams p = SamplingParams.builder().minP(0.4).build(); // keeps p >= 0.2
        for (int k = 0; k < 100; k++) {
            int t = Sampler.sampleScaled(l.clone(), p, k / 100.0);
            assertTrue(t == 0 || t == 1, "min_p kept token " + t);
        }
        assertEquals(1, Sampler.sampleScaled(l.clone(), p, 0.99));
    }

    @Test
    void topKKeepsTiesAtTheThreshold() {
        float[] l = {3f, 1f, 2f, 2f, 0f};
        SamplingParams p = SamplingParams.builder().topK(2).build();
        boolean[] seen = new boolean[l.length];
        for (int k = 0; k < 1000; k++) {
            seen[Sampler.sampleScaled(l.clone(), p, k / 1000.0)] = true;
        }
        assertTrue(seen[0] && seen[2] && seen[3], "ties with the k-th value stay, as in vLLM");
        assertTrue(!seen[1] && !seen[4]);
    }

    /** The partial selections (top-k heap, growing top-p candidates) against a full sort, on a real vocab size. */
    @Test
    void partialSelectionMatchesFullSortReference() {
        SplittableRandom r = new SplittableRandom(9);
        double[] spreads = {0.05, 1, 8}; // 0.05 is nearly flat: top-p must fall back to a full sort
        for (double spread : spreads) {
            float[] l = randomLogits(32_768, (long) (spread * 1000), spread);
            for (int trial = 0; trial < 6; trial++) {
                int topK = trial % 3 == 0 ? 0 : 1 + r.nextInt(200);
                double topP = trial % 2 == 0 ? 0.5 + 0.49 * r.nextDouble() : 1.0;
                double minP = trial == 5 ? 0.05 : 0.0;
                SamplingParams p = SamplingParams.builder()
                        .topK(topK)
                        .topP(topP)
                        .minP(minP)
                        .build();
                double[] ref = referenceDistribution(l, p);
                double[] got = new double[l.length];
                int n = 100;
                for (int k = 0; k < n; k++) {
                    got[Sampler.sampleScaled(l.clone(), p, (k + 0.5) / n)] += 1.0 / n;
                }
                for (int i = 0; i < l.length; i++) {
                    if (ref[i] == 0) {
                        assertEquals(0, got[i], "token " + i + " should be cut: spread " + spread + " " + p);
                    }
                }
                double tv = 0;
                for (int i = 0; i < l.length; i++) {
                    tv += Math.abs(ref[i] - got[i]);
                }
                // Quantising u to n points moves at most ~(kept tokens)/n of mass.
                int kept = (int) Arrays.stream(ref).filter(x -> x > 0).count();
                assertTrue(tv / 2 <= Math.min(1.0, (kept + 1.0) / n) + 1e-9, "total variation " + tv / 2 + " " + p);
            }
        }
    }

    @Test
    void penaltiesFollowVllm() {
        float[] l = {2.0f, 1.5f, -1.0f, 0.5f};
        // repetition 2 on prompt token 0: 2.0 -> 1.0, so token 1 (1.5) wins greedily.
        SamplingParams rep =
                SamplingParams.builder().temperature(0).repetitionPenalty(2.0).build();
        assertEquals(1, new Sampler(1).sample(l, new SamplingState(rep, new int[] {0, 0, 2})));
        // Negative logits are multiplied: -1 * 2 = -2 stays the minimum; check the arithmetic directly.
        float[] copy = l.clone();
        SamplingState st = new SamplingState(rep, new int[] {0, 2});
        st.applyPenalties(copy);
        assertEquals(1.0f, copy[0]);
        assertEquals(-2.0f, copy[2]);
        assertEquals(1.5f, copy[1]);

        // frequency 0.4 per occurrence + presence 0.3 once, on generated tokens only.
        SamplingParams fp = SamplingParams.builder()
                .temperature(0)
                .frequencyPenalty(0.4)
                .presencePenalty(0.3)
                .build();
        SamplingState out = new SamplingState(fp, new int[] {1});
        out.appendOutput(0);
        out.appendOutput(0);
        float[] pen = l.clone();
        out.applyPenalties(pen);
        assertEquals(2.0f - 0.8f - 0.3f, pen[0], 1e-6);
        assertEquals(1.5f, pen[1], "prompt tokens are not subject to frequency/presence");
        assertEquals(1, new Sampler(1).sample(l, out));
    }

    @Test
    void minTokensHoldsBackEosAndStopIds() {
        float[] l = {0f, 0f, 5f, 4f};
        SamplingParams p = SamplingParams.builder()
                .temperature(0)
                .minTokens(2)
                .stopTokenIds(List.of(3))
                .maxTokens(10)
                .build();
        SamplingState st = new SamplingState(p, NO_PROMPT, 2);
        Sampler s = new Sampler(1);
        assertEquals(0, s.sample(l, st), "EOS (2) and stop id 3 are blocked before 2 tokens");
        assertEquals(0, s.sample(l, st));
        assertEquals(2, s.sample(l, st));
        assertEquals(3, st.numOutputTokens());
    }

    private static float[] logitsOf(double... probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < probs.length; i++) {
            l[i] = (float) Math.log(probs[i]);
        }
        return l;
    }

    private static double[] softmax(float[] l, double t) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : l) {
            max = Math.max(max, v / t);
        }
        double[] p = new double[l.length];
        double z = 0;
        for (int i = 0; i < l.length; i++) {
            p[i] = Math.exp(l[i] / t - max);
            z += p[i];
        }
        for (int i = 0; i < l.length; i++) {
            p[i] /= z;
        }
        return p;
    }

    /** vLLM V1 on already-scaled logits, written the slow obvious way: full sorts, masks, softmax. */
    private static double[] referenceDistribution(float[] l, SamplingParams p) {
        int v = l.length;
        double[] logits = new double[v];
        for (int i = 0; i < v; i++) {
            logits[i] = l[i];
        }
        if (p.minP() > 0) {
            double[] probs = softmaxD(logits);
            double max = Arrays.stream(probs).max().orElseThrow();
            for (int i = 0; i < v; i++) {
                if (probs[i] < p.minP() * max) {
                    logits[i] = Double.NEGATIVE_INFINITY;
                }
            }
        }
        Integer[] asc = new Integer[v];
        for (int i = 0; i < v; i++) {
            asc[i] = i;
        }
        double[] lg = logits;
        Arrays.sort(asc, (a, b) -> lg[a] != lg[b] ? Double.compare(lg[a], lg[b]) : Integer.compare(b, a));
        if (p.topK() > 0) {
            double kth = logits[asc[v - p.topK()]];
            for (int i = 0; i < v; i++) {
                if (logits[i] < kth) {
                    logits[i] = Double.NEGATIVE_INFINITY;
                }
            }
        }
        if (p.topP() < 1) {
            double[] probs = softmaxD(logits);
            double cum = 0;
            for (int j = 0; j < v - 1; j++) {
                cum += probs[asc[j]];
                if (cum <= 1 - p.topP()) {
                    logits[asc[j]] = Double.NEGATIVE_INFINITY;
                }
            }
        }
        return softmaxD(logits);
    }

    private static double[] softmaxD(double[] logits) {
        double max = Arrays.stream(logits).max().orElseThrow();
        double[] p = new double[logits.length];
        double z = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(logits[i] - max);
            z += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= z;
        }
        return p;
    }
}
