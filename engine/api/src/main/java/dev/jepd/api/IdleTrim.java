package dev.jepd.api;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gives memory back to the OS once a server goes idle after work. What is run is the caller's {@link Trim}: a full
 * collection by default ({@link #GC}, so that the heap a burst grew can shrink and cleaners free unreachable
 * native buffers); a node adds glibc's {@code malloc_trim(0)} ({@code dev.jepd.ffi.MallocTrim}, in native/: native
 * calls stay below this module), without which a burst's native buffers (libtorch's activations, the tokenizer's
 * encodings, image decoding) stay in the RSS, spread over one malloc arena per thread that allocated them.
 *
 * <p>A check runs every {@code quiet}: when API requests have completed since the last trim, none completed in the
 * last interval, and none is in flight, it trims once. Health probes and metrics scrapes are not counted, so an
 * idle node behind a proxy is not trimmed again and again. Still idle {@link #SECOND_PASS} after that trim, it trims
 * once more: the HTTP worker threads a burst added end after 10 s idle, and only then is what they held (their
 * thread-local buffers, the JDK's cached temporary direct buffers) garbage and free memory.
 */
public final class IdleTrim implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(IdleTrim.class);
    /** What a trim calls: {@link #GC}, a node's {@code MallocTrim}, a counter in tests. */
    @FunctionalInterface
    public interface Trim {
        void run();
    }

    /** A full collection ({@code System.gc()}). */
    public static final Trim GC = System::gc;

    /** How long after a trim, with nothing done since, the second one runs. */
    public static final Duration SECOND_PASS = Duration.ofSeconds(15);

    private final IntSupplier inFlight;
    private final LongSupplier completed;
    private final Trim trim;
    private final LongSupplier nanoClock;
    private final long secondPassNanos;
    private final AtomicLong trims = new AtomicLong();
    private final Thread thread;
    private volatile boolean closed;
    private long lastSeen;
    private long trimmedAt;
    private long trimmedAtNanos;
    private boolean secondPassDue;

    private IdleTrim(
            IntSupplier inFlight,
            LongSupplier completed,
            Trim trim,
            Duration quiet,
            Duration secondPass,
            LongSupplier nanoClock,
            String name) {
        this.inFlight = inFlight;
        this.completed = completed;
        this.trim = trim;
        this.nanoClock = nanoClock;
        this.secondPassNanos = secondPass.toNanos();
        this.lastSeen = completed.getAsLong();
        this.trimmedAt = lastSeen;
        long millis = Math.max(1, quiet.toMillis());
        this.thread = Thread.ofPlatform().daemon().name(name + "-idle-trim").start(() -> loop(millis));
    }

    /**
     * Starts the checks: {@code inFlight} requests now, {@code completed} API requests so far (monotonic).
     */
    public static IdleTrim start(IntSupplier inFlight, LongSupplier completed, Trim trim, Duration quiet, String name) {
        return new IdleTrim(inFlight, completed, trim, quiet, SECOND_PASS, System::nanoTime, name);
    }

    /** As {@link #start}, with the second pass's delay and the clock given (tests). */
    static IdleTrim start(
            IntSupplier inFlight,
            LongSupplier completed,
            Trim trim,
            Duration quiet,
            Duration secondPass,
            LongSupplier nanoClock,
            String name) {
        return new IdleTrim(inFlight, completed, trim, quiet, secondPass, nanoClock, name);
    }

    /** Trims done so far. */
    public long trims() {
        return trims.get();
    }

    private void loop(long millis) {
        while (!closed) {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                return;
            }
            check();
        }
    }

    /** One check (package-visible for tests that drive it without waiting). */
    void check() {
        long seen = completed.getAsLong();
        boolean settled = seen == lastSeen;
        lastSeen = seen;
        if (!settled || inFlight.getAsInt() != 0) {
            return;
        }
        if (seen != trimmedAt) {
            trimmedAt = seen;
            run("idle after " + seen + " request(s)");
            trimmedAtNanos = nanoClock.getAsLong();
            secondPassDue = true;
        } else if (secondPassDue && nanoClock.getAsLong() - trimmedAtNanos >= secondPassNanos) {
            secondPassDue = false;
            run("still idle after " + seen + " request(s), second pass");
        }
    }

    private void run(String why) {
        long before = rssKib();
        long started = System.nanoTime();
        trim.run();
        trims.incrementAndGet();
        long after = rssKib();
        LOG.info(
                "{}: native memory trimmed in {} ms, RSS {} -> {} MB",
                why,
                (System.nanoTime() - started) / 1_000_000,
                before / 1024,
                after / 1024);
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }

    /** This process's resident set in KiB, 0 where /proc is absent. */
    static long rssKib() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.substring(6).replace("kB", "").strip());
                }
            }
        } catch (Exception e) {
            // not Linux
        }
        return 0;
    }
}
