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
 * idle node behind a proxy is not trimmed again and again.
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

    private final IntSupplier inFlight;
    private final LongSupplier completed;
    private final Trim trim;
    private final AtomicLong trims = new AtomicLong();
    private final Thread thread;
    private volatile boolean closed;
    private long lastSeen;
    private long trimmedAt;

    private IdleTrim(IntSupplier inFlight, LongSupplier completed, Trim trim, Duration quiet, String name) {
        this.inFlight = inFlight;
        this.completed = completed;
        this.trim = trim;
        this.lastSeen = completed.getAsLong();
        this.trimmedAt = lastSeen;
        long millis = Math.max(1, quiet.toMillis());
        this.thread = Thread.ofPlatform().daemon().name(name + "-idle-trim").start(() -> loop(millis));
    }

    /**
     * Starts the checks: {@code inFlight} requests now, {@code completed} API requests so far (monotonic).
     */
    public static IdleTrim start(IntSupplier inFlight, LongSupplier completed, Trim trim, Duration quiet, String name) {
        return new IdleTrim(inFlight, completed, trim, quiet, name);
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
        if (settled && seen != trimmedAt && inFlight.getAsInt() == 0) {
            trimmedAt = seen;
            long before = rssKib();
            long started = System.nanoTime();
            trim.run();
            trims.incrementAndGet();
            long after = rssKib();
            LOG.info(
                    "idle after {} request(s): native memory trimmed in {} ms, RSS {} -> {} MB",
                    seen,
                    (System.nanoTime() - started) / 1_000_000,
                    before / 1024,
                    after / 1024);
        }
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
