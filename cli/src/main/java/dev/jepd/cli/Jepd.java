package dev.jepd.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code jepd} command: one entry point, a subcommand per job. */
@Command(
        name = "jepd",
        mixinStandardHelpOptions = true,
        version = "jepd 0.1.0",
        description = "JVM-native Encoder / Prefill / Decode serving of Qwen-VL models.",
        subcommands = {
            DemoCommand.class,
            ServeCommand.class,
            GenerateCommand.class,
            BenchCommand.class,
            TinyModelCommand.class,
            CommandLine.HelpCommand.class
        })
public final class Jepd implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.err);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Jepd());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            // A clear one-line cause for the user; the stack trace only on request.
            cmd.getErr().println("jepd " + cmd.getCommandName() + ": " + describe(ex));
            if (Boolean.getBoolean("jepd.debug")) {
                ex.printStackTrace(cmd.getErr());
            }
            return 1;
        });
        return cl;
    }

    static String describe(Throwable ex) {
        String msg = ex.getMessage();
        return msg == null || msg.isBlank() ? ex.getClass().getSimpleName() : msg;
    }
}
