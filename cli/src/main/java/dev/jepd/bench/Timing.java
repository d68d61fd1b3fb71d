package dev.jepd.bench;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Arrays;

/**
 * Wall-clock samples of one measured operation, in seconds: their median (the number to quote, robust to
 * a neighbour's build stealing a core for a while) and their minimum (what the code can do undisturbed).
 */
public record Timing(
        @JsonProperty("samples") int samples,
        @JsonProperty("median_s") double median,
        @JsonProperty("min_s") double min) {

    public Timing {
        if (samples < 1 || !(min > 0) || median < min) {
            throw new IllegalArgumentException(
                    "timing of " + samples + " samples, median " + median + " s, min " + min + " s");
        }
    }

    /** Runs {@code body} {@code warmup} times untimed, then {@code iterations} times timed. */
    public static Timing measure(int warmup, int iterations, Runnable body) {
        if (iterations < 1) {
            throw new IllegalArgumentException("iterations must be at least 1, got " + iterations);
        }
        for (int i = 0; i < warmup; i++) {
            body.run();
        }
        double[] seconds = new double[iterations];
        for (int i = 0; i < iterations; i++) {
            long t0 = System.nanoTime();
            body.run();
            seconds[i] = (System.nanoTime() - t0) / 1e9;
        }
        return of(seconds);
    }

    public static Timing of(double[] seconds) {
        if (seconds.length == 0) {
            throw new IllegalArgumentException("no samples");
        }
        double[] s = seconds.clone();
        Arrays.sort(s);
        int n = s.length;
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        // Clamp: a sample below the clock's resolution must not read as infinitely fast.
        double min = Math.max(s[0], 1e-9);
        return new Timing(n, Math.max(median, min), min);
    }

    /** {@code amount} per second at the median time (units of work, FLOPs, bytes, ...). */
    public double medianRate(double amount) {
        return amount / median;
    }

    /** {@code amount} per second at the best time. */
    public double bestRate(double amount) {
        return amount / min;
    }
}
