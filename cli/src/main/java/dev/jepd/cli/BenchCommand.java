package dev.jepd.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code jepd bench}: throughput next to the machine's measured limits (see docs/PERF.md). */
@Command(
        name = "bench",
        mixinStandardHelpOptions = true,
        description = "Benchmarks; results belong in docs/PERF.md.",
        subcommands = {
            ModelBenchCommand.class,
            ServeBenchCommand.class,
            ProxyBenchCommand.class,
            KvBenchCommand.class,
            EcBenchCommand.class,
            ChaosBenchCommand.class,
            ImageMemoryBenchCommand.class,
            CommandLine.HelpCommand.class
        })
public final class BenchCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        // A group of benchmarks, not one: say which there are.
        spec.commandLine().usage(System.err);
    }
}
