package dev.jepd.tensor.torch;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The threads of JEPD's own CPU kernels ({@link Bf16MatVec}, {@link Bf16Rows}, the AMX products, ...): the caller plus one daemon worker
 * per further CPU. A job is cut into chunks that the threads claim in turn; the caller claims chunks too, then
 * waits for the count. Each job is published as a fresh {@link Run} with its own counters, so a worker that wakes
 * late can only find the chunks of a finished run already claimed. One job runs at a time: a caller that finds
 * the pool busy gets {@code false} and does the work another way.
 *
 * <p>After a job that asks for it, the workers spin {@link #SPINS} times for the next one before they park: the
 * matrix-vector products of a decode step come microseconds apart. After any other job they park at once, so
 * that they never take a CPU from the libtorch kernel that runs next.
 */
final class HostPool {
    /** Spin iterations of an idle worker before it parks (a few tens of microseconds). */
    private static final int SPINS = 20_000;

    static final HostPool SHARED = new HostPool(Math.max(1, Runtime.getRuntime().availableProcessors()));

    /** Work cut into {@link #chunks()} independent pieces. */
    interface Job {
        /**
         * Runs on the caller once the pool is this job's, before any chunk: work the chunks share (state that only
         * the pool's holder may touch lives safely here, since one job runs at a time).
         */
        default void prepare() {}

        int chunks();

        void chunk(int c);
    }

    /**
     * A job over the items {@code [0, total())} in pieces of {@code per()}: chunk c is {@code [c · per, min(total,
     * (c + 1) · per))}.
     */
    interface RangeJob extends Job {
        long total();

        long per();

        /** The items {@code [from, to)}. */
        void range(long from, long to);

        @Override
        default int chunks() {
            return (int) ((total() + per() - 1) / per());
        }

        @Override
        default void chunk(int c) {
            long from = c * per();
            range(from, Math.min(total(), from + per()));
        }

        /** {@code body} over {@code [0, total)} in pieces of {@code per}. */
        static RangeJob of(long total, long per, Body body) {
            return new RangeJob() {
                @Override
                public long total() {
                    return total;
                }

                @Override
                public long per() {
                    return per;
                }

                @Override
                public void range(long from, long to) {
                    body.range(from, to);
                }
            };
        }

        /** What a {@link #of} job does with a piece. */
        interface Body {
            void range(long from, long to);
        }
    }

    private final ReentrantLock busy = new ReentrantLock();
    private final Thread[] workers;
    private volatile Run current;

    private HostPool(int threads) {
        workers = new Thread[threads - 1];
        for (int t = 0; t < workers.length; t++) {
            Thread th = new Thread(this::work, "jepd-host-kernel-" + (t + 1));
            th.setDaemon(true);
            workers[t] = th;
            th.start();
        }
    }

    int threads() {
        return workers.length + 1;
    }

    /**
     * Runs {@code job} on all threads and returns when every chunk is done; false, running nothing, when another
     * job holds the pool.
     *
     * @param spinAfter whether the workers should spin for a next job before they park
     */
    boolean tryRun(Job job, boolean spinAfter) {
        return tryRunInOrder(spinAfter, job);
    }

    /**
     * Runs {@code jobs} one after another, each on all threads, holding the pool throughout (so that state one job
     * leaves for the next, such as a packed operand, is safe from other callers); false, running nothing, when
     * another caller holds the pool.
     */
    boolean tryRunInOrder(boolean spinAfter, Job... jobs) {
        if (!busy.tryLock()) {
            return false;
        }
        try {
            for (int i = 0; i < jobs.length; i++) {
                runHeld(jobs[i], spinAfter || i < jobs.length - 1); // the next job comes at once
            }
            return true;
        } finally {
            busy.unlock();
        }
    }

    private void runHeld(Job job, boolean spinAfter) {
        job.prepare();
        Run run = new Run(job, spinAfter);
        current = run;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        run.claim();
        // The last chunks are in other threads' hands: wait for them spinning, and yield the CPU now and
        // then, so that a worker the OS has descheduled (cores shared with other work) can finish.
        for (int spins = 0; run.done.get() < run.chunks; spins++) {
            if (spins % 1024 == 1023) {
                Thread.yield();
            } else {
                Thread.onSpinWait();
            }
        }
        if (run.failure != null) {
            throw run.failure;
        }
    }

    private void work() {
        Run seen = null;
        int spins = SPINS;
        while (true) {
            Run run;
            while ((run = current) == seen) {
                if (++spins < SPINS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
            }
            seen = run;
            run.claim();
            spins = run.spinAfter ? 0 : SPINS;
        }
    }

    /** One job's chunks, claimed in turn by whichever thread comes next. */
    private static final class Run {
        final Job job;
        final int chunks;
        final boolean spinAfter;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile RuntimeException failure;

        Run(Job job, boolean spinAfter) {
            this.job = job;
            this.chunks = job.chunks();
            this.spinAfter = spinAfter;
        }

        void claim() {
            for (int c = next.getAndIncrement(); c < chunks; c = next.getAndIncrement()) {
                try {
                    job.chunk(c);
                } catch (RuntimeException e) {
                    failure = e;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }
}
