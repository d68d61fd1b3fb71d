package dev.jepd.engine.sampling;

import java.security.SecureRandom;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Turns one row of logits into a token id, in the order of vLLM's V1 sampler ({@code vllm/v1/sample}):
 * <ol>
 *   <li>{@code min_tokens}: stop token ids and EOS get -inf until enough tokens exist;
 *   <li>penalties: repetition, frequency, presence ({@link SamplingState});
 *   <li>greedy requests ({@code temperature < 1e-5}) take the argmax here, the first maximum on ties like
 *       {@code torch.argmax};
 *   <li>temperature: logits divided by it;
 *   <li>min-p: tokens whose probability is below {@code min_p × p_max} are dropped (V1 runs this
 *       argmax-invariant processor before top-k/top-p);
 *   <li>top-k: every token below the k-th largest logit is dropped (ties with it stay, as in vLLM);
 *   <li>top-p: in ascending order, tokens whose cumulative probability stays {@code <= 1 - top_p} are
 *       dropped, the most likely token always stays;
 *   <li>one draw from what remains, renormalised.
 * </ol>
 * Nothing sorts the whole vocabulary: top-k keeps a heap of k (then top-p cuts those k), and top-p alone
 * buckets the probability mass by logit in one pass and sorts only the bucket where the cumulative mass
 * crosses {@code top_p}.
 *
 * <p>Seeded requests draw from their own counter-based stream ({@link SamplingState}); unseeded ones share
 * this sampler's generator. The caller's logits are never modified (work happens on a per-thread copy).
 */
public final class Sampler {
    // Top-p without top-k buckets tokens by distance below the largest logit, 1/16 logit wide, so that only
    // the bucket where the cumulative probability crosses top_p needs sorting. Beyond 64 logits (a factor
    // e^-64) everything shares the last bucket.
    private static final int BUCKETS = 1024;
    private static final float BUCKET_RANGE = 64f;

    private final SplittableRandom global;
    private final ThreadLocal<float[]> scratch = ThreadLocal.withInitial(() -> new float[0]);

    /** A sampler whose unseeded requests draw from a randomly seeded generator. */
    public Sampler() {
        this(new SecureRandom().nextLong());
    }

    /** A sampler whose unseeded requests are reproducible too, given the same sequence of calls. */
    public Sampler(long globalSeed) {
        this.global = new SplittableRandom(globalSeed);
    }

    /** Picks the next token of {@code state}'s sequence and records it there. */
    public int sample(float[] logits, SamplingState state) {
        int token = choose(logits, state);
        state.appendOutput(token);
        return token;
    }

    /** The index of the first maximum, like {@code torch.argmax} (a NaN never wins unless it comes first). */
    public static int argmax(float[] logits) {
        int best = 0;
        float bestValue = logits[0];
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > bestValue) {
                bestValue = logits[i];
                best = i;
            }
        }
        return best;
    }

    private int choose(float[] logits, SamplingState state) {
        if (logits.length == 0) {
            throw new IllegalArgumentException("empty logits row");
        }
        SamplingParams p = state.params();
        boolean modifies = state.minTokensActive() || p.hasPenalties() || !p.isGreedy();
        float[] l = logits;
        if (modifies) {
            l = scratch(logits.length);
            System.arraycopy(logits, 0, l, 0, logits.length);
        }
        if (state.minTokensActive()) {
            for (int id : state.minTokensBlocked()) {
                if (id >= 0 && id < l.length) {
                    l[id] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        state.applyPenalties(l);
        if (p.isGreedy()) {
            return argmax(l);
        }
        float t = (float) p.temperature();
        if (t != 1.0f) {
            for (int i = 0; i < l.length; i++) {
                l[i] /= t;
            }
        }
        double u = p.seed() != null ? state.seededUniform() : nextGlobalUniform();
        return sampleScaled(l, p, u);
    }

    private synchronized double nextGlobalUniform() {
        return global.nextDouble();
    }

    private float[] scratch(int n) {
        float[] s = scratch.get();
        if (s.length < n) {
            s = new float[n];
            scratch.set(s);
        }
        return s;
    }

    /**
     * Min-p, top-k, top-p and the draw on temperature-scaled logits (which it overwrites). Package-private
     * for tests: {@code u} is the uniform in [0, 1) that picks the token.
     */
    static int sampleScaled(float[] l, SamplingParams p, double u) {
        float lmax = Float.NEGATIVE_INFINITY;
        for (float v : l) {
            if (v > lmax) {
                lmax = v;
            }
        }
        if (!(lmax > Float.NEGATIVE_INFINITY)) {
            return argmax(l); // everything masked (or NaN): nothing to draw from
        }
        // Tokens below the floor have probability zero (masked, -inf, or cut by min-p).
        float floor = -Float.MAX_VALUE;
        if (p.minP() > 0) {
            floor = Math.max(floor, minPFloor(l, lmax, p.minP()));
        }
        int[] cand = null; // when set: the surviving token ids (top-k: most likely first)
        int n = 0;
        if (p.topK() > 0 && p.topK() < l.length) {
            float threshold = Math.max(floor, TopK.kthLargest(l, p.topK(), floor));
            cand = collectAtLeast(l, threshold);
            n = cand.length;
        }
        if (p.topP() < 1.0) {
            if (cand != null) {
                n = topPCut(l, lmax, cand, n, p.topP());
            } else {
                cand = nucleus(l, lmax, floor, p.topP());
                n = cand.length;
            }
        }
        if (cand != null) {
            double z = 0;
            for (int j = 0; j < n; j++) {
                z += Math.exp(l[cand[j]] - lmax);
            }
            double target = u * z;
            double cum = 0;
            for (int j = 0; j < n; j++) {
                cum += Math.exp(l[cand[j]] - lmax);
                if (cum > target) {
                    return cand[j];
                }
            }
            return cand[n - 1]; // rounding kept cum <= target to the end
        }
        // Full vocabulary (above the floor): weights overwrite the scaled logits, then one walk.
        double z = 0;
        int last = -1;
        for (int i = 0; i < l.length; i++) {
            float w = l[i] >= floor ? (float) Math.exp(l[i] - lmax) : 0f;
            l[i] = w;
            z += w;
        }
        double target = u * z;
        double cum = 0;
        for (int i = 0; i < l.length; i++) {
            if (l[i] > 0) {
                cum += l[i];
                last = i;
                if (cum > target) {
                    return i;
                }
            }
        }
        return last;
    }

    /**
     * The lowest logit min-p keeps: {@code p_i >= min_p * p_max} is {@code l_i - l_max >= ln(min_p)}. Returned
     * as the smallest kept value so that a plain {@code >=} comparison applies it.
     */
    private static float minPFloor(float[] l, float lmax, double minP) {
        double logMinP = Math.log(minP);
        float lowest = lmax;
        for (float v : l) {
            if (v < lowest && v - (double) lmax >= logMinP) {
                lowest = v;
            }
        }
        return lowest;
    }

    /** The ids whose logit is {@code >= threshold}, most likely first. */
    private static int[] collectAtLeast(float[] l, float threshold) {
        int count = 0;
        for (float v : l) {
            if (v >= threshold) {
                count++;
            }
        }
        int[] ids = new int[count];
        int j = 0;
        for (int i = 0; i < l.length; i++) {
            if (l[i] >= threshold) {
                ids[j++] = i;
            }
        }
        TopK.sortDescending(ids, count, l);
        return ids;
    }

    /**
     * vLLM's top-p on candidates sorted most likely first: walking up from the least likely, a token is
     * dropped while the cumulative probability stays {@code <= 1 - topP}; equivalently a token stays when the
     * probability of the tokens before it is {@code < topP}. The first candidate always stays. Returns the
     * number kept.
     */
    private static int topPCut(float[] l, float lmax, int[] cand, int n, double topP) {
        double z = 0;
        for (int j = 0; j < n; j++) {
            z += Math.exp(l[cand[j]] - lmax);
        }
        double target = topP * z;
        double before = 0;
        int keep = 0;
        while (keep < n && (keep == 0 || before < target)) {
            before += Math.exp(l[cand[keep]] - lmax);
            keep++;
        }
        return keep;
    }

    /**
     * Top-p over every token {@code >= floor} without a full sort: one pass buckets the probability mass by
     * distance below {@code lmax}; buckets before the one where the cumulative mass reaches {@code topP} stay
     * whole, the crossing bucket is sorted and cut exactly, the rest goes. The kept ids come back in no
     * particular order (the draw does not need one).
     */
    private static int[] nucleus(float[] l, float lmax, float floor, double topP) {
        double[] mass = new double[BUCKETS + 1];
        int[] count = new int[BUCKETS + 1];
        double total = 0;
        for (float v : l) {
            if (v >= floor) {
                int b = bucket(lmax - v);
                double w = Math.exp(v - lmax);
                mass[b] += w;
                count[b]++;
                total += w;
            }
        }
        double target = topP * total;
        double before = 0;
        int cross = 0;
        int whole = 0;
        while (cross < BUCKETS && before + mass[cross] < target) {
            before += mass[cross];
            whole += count[cross];
            cross++;
        }
        int[] crossing = new int[count[cross]];
        int[] kept = new int[whole + count[cross]];
        int k = 0;
        int c = 0;
        for (int i = 0; i < l.length; i++) {
            float v = l[i];
            if (v >= floor) {
                int b = bucket(lmax - v);
                if (b < cross) {
                    kept[k++] = i;
                } else if (b == cross) {
                    crossing[c++] = i;
                }
            }
        }
        TopK.sortDescending(crossing, c, l);
        for (int j = 0; j < c && before < target; j++) { // before < target holds on entry: one always stays
            kept[k++] = crossing[j];
            before += Math.exp(l[crossing[j]] - lmax);
        }
        return k == kept.length ? kept : Arrays.copyOf(kept, k);
    }

    private static int bucket(float belowMax) {
        return belowMax >= BUCKET_RANGE ? BUCKETS : (int) (belowMax * (BUCKETS / BUCKET_RANGE));
    }
}
