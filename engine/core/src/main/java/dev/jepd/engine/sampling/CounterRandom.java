package dev.jepd.engine.sampling;

/**
 * A counter-based generator: the {@code n}-th draw of a stream is a pure function of {@code (seed, n)}
 * (splitmix64's finaliser over a Weyl sequence), so a stream can be resumed anywhere without replaying it.
 */
final class CounterRandom {
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private CounterRandom() {}

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A uniform double in [0, 1) with 53 random bits. */
    static double uniform(long seed, long n) {
        long z = mix(mix(seed + GOLDEN) + (n + 1) * GOLDEN);
        return (z >>> 11) * 0x1.0p-53;
    }
}
