package dev.jepd.cli;

import picocli.CommandLine.Command;

/** {@code jepd bench}: throughput next to the machine's measured limits (see docs/PERF.md). */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks; results belong in docs/PERF.md.")
public final class BenchCommand implements Runnable {
    @Override
    public void run() {
        throw new UnsupportedOperationException("jepd bench: no benchmark implemented yet");
    }
}
