package dev.jepd.api;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gives freed native memory back to the OS once a server goes idle after work: glibc's {@code malloc_trim(0)}
 * (called through {@link java.lang.foreign}), which returns the free pages at the top of every malloc arena and
 * {@code madvise}s away the free pages inside them. Without it a burst's native buffers (libtorch's activations,
 * the tokenizer's encodings, image decoding) stay in the process's RSS, spread over one arena per thread that
 * allocated them.
 *
 * <p>A check runs every {@code quiet}: when API requests have completed since the last trim, none completed in the
 * last interval, and none is in flight, it trims once. Health probes and metrics scrapes are not counted, so an
 * idle node behind a proxy is not trimmed again and again. Where {@code malloc_trim} is absent (not glibc) it does
 * nothing.
 */
public final class IdleTrim implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(IdleTrim.class);
    private static final MethodHandle MALLOC_TRIM = mallocTrim();

    /** What a trim calls; {@link #MALLOC_TRIM_0} in a server, a counter in tests. */
    @FunctionalInterface
    public interface Trim {
        void run();
    }

    /** glibc's {@code malloc_trim(0)}, or nothing where it is absent. */
    public static final Trim MALLOC_TRIM_0 = IdleTrim::mallocTrim0;

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

    /** Whether glibc's {@code malloc_trim} was found. */
    public static boolean available() {
        return MALLOC_TRIM != null;
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

    private static void mallocTrim0() {
        if (Boolean.parseBoolean(System.getProperty("jepd.idleTrim.gc", "true"))) {
            System.gc();
        }
        if (MALLOC_TRIM == null) {
            return;
        }
        try {
            int unused = (int) MALLOC_TRIM.invokeExact(0L);
        } catch (Throwable t) {
            LOG.debug("malloc_trim failed", t);
        }
    }

    private static MethodHandle mallocTrim() {
        try {
            Linker linker = Linker.nativeLinker();
            Optional<java.lang.foreign.MemorySegment> symbol =
                    linker.defaultLookup().find("malloc_trim");
            return symbol.map(s -> linker.downcallHandle(
                            s, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG)))
                    .orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null; // no native access, or not glibc
        }
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
