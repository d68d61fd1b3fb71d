package dev.jepd.gpu;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectPackage;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.FilterResult;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.ClassNameFilter;
import org.junit.platform.engine.support.descriptor.ClassSource;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs one phase of the GPU suite where there is no Maven (the package of {@code bin/jepd gpu-check}) and writes
 * one line per test, {@code PASSED}, {@code FAILED}, {@code ABORTED} or {@code SKIPPED} with the reason, to a
 * report file and to stdout; a failure's stack trace follows its line, indented.
 *
 * <pre>
 * GpuSuiteMain --report FILE [--title NAME] [--tag TAG]... (--package PKG | --class FQCN)...
 * </pre>
 *
 * Exit status 1 when a test or a container failed, 2 on bad arguments, else 0 (also when no test was found:
 * the report says so). Scanned classes that cannot be linked (a test whose client library is not in the
 * package, such as the OpenAI SDK) are left out and listed as {@code NOT-LOADED}, not run into an error.
 */
public final class GpuSuiteMain {
    private GpuSuiteMain() {}

    public static void main(String[] args) throws IOException {
        Path report = null;
        String title = "tests";
        List<String> tags = new ArrayList<>();
        List<DiscoverySelector> selectors = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (i + 1 >= args.length) {
                usage("missing the value of " + flag);
            }
            String value = args[++i];
            switch (flag) {
                case "--report" -> report = Path.of(value);
                case "--title" -> title = value;
                case "--tag" -> tags.add(value);
                case "--package" -> selectors.add(selectPackage(value));
                case "--class" -> selectors.add(selectClass(value));
                case "--method" ->
                    selectors.add(
                            org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod(value)); // Class#method
                default -> usage("unknown flag " + flag);
            }
        }
        if (report == null || selectors.isEmpty()) {
            usage("--report and at least one --package or --class are required");
        }
        System.exit(run(report, title, tags, selectors));
    }

    private static void usage(String problem) {
        System.err.println("GpuSuiteMain: " + problem);
        System.err.println("usage: GpuSuiteMain --report FILE [--title NAME] [--tag TAG]... "
                + "(--package PKG | --class FQCN)...");
        System.exit(2);
    }

    static int run(Path report, String title, List<String> tags, List<DiscoverySelector> selectors) throws IOException {
        if (report.toAbsolutePath().getParent() != null) {
            Files.createDirectories(report.toAbsolutePath().getParent());
        }
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(report, StandardCharsets.UTF_8), true)) {
            Lines lines = new Lines(out);
            lines.println("# " + title + ": selectors " + selectors + (tags.isEmpty() ? "" : ", tags " + tags)
                    + ", jepd.test.device=" + System.getProperty("jepd.test.device", "(unset)")
                    + ", jepd.test.backend=" + System.getProperty("jepd.test.backend", "(unset)"));
            LinkableClasses linkable = new LinkableClasses(lines);
            LauncherDiscoveryRequestBuilder request = LauncherDiscoveryRequestBuilder.request()
                    .selectors(selectors)
                    .filters(linkable);
            if (!tags.isEmpty()) {
                request.filters(TagFilter.includeTags(tags));
            }
            LauncherDiscoveryRequest built = request.build();
            Launcher launcher = LauncherFactory.create();
            TestPlan plan = launcher.discover(built);
            // Test methods: plain tests, and the containers of parameterized and dynamic tests (their cases
            // appear only when they run).
            long found = plan.countTestIdentifiers(id -> id.isTest()
                    || id.getSource().filter(MethodSource.class::isInstance).isPresent());
            if (found == 0) {
                lines.println("# " + title + ": 0 tests found");
                return 0;
            }
            lines.println("# " + title + ": " + found + " test methods found; parameterized ones expand when run");
            SummaryGeneratingListener summary = new SummaryGeneratingListener();
            launcher.execute(plan, summary, new LineListener(lines));
            TestExecutionSummary s = summary.getSummary();
            lines.println(String.format(
                    "# %s: %d tests found, %d passed, %d failed, %d aborted, %d skipped; %d containers failed;"
                            + " %.1f s",
                    title,
                    s.getTestsFoundCount(),
                    s.getTestsSucceededCount(),
                    s.getTestsFailedCount(),
                    s.getTestsAbortedCount(),
                    s.getTestsSkippedCount(),
                    s.getContainersFailedCount(),
                    (s.getTimeFinished() - s.getTimeStarted()) / 1e3));
            return s.getTotalFailureCount() > 0 ? 1 : 0;
        }
    }

    /** The report file and stdout, line by line (flushed: the logs must survive a run killed at its limit). */
    private record Lines(PrintWriter file) {
        synchronized void println(String line) {
            file.println(line);
            System.out.println(line);
        }
    }

    /**
     * Keeps scanned classes whose fields and methods link: JUnit would otherwise abort the whole discovery on
     * the first test class that names a type missing from the package.
     */
    private record LinkableClasses(Lines lines) implements ClassNameFilter {
        @Override
        public FilterResult apply(String className) {
            try {
                Class<?> c =
                        Class.forName(className, false, Thread.currentThread().getContextClassLoader());
                c.getDeclaredFields();
                c.getDeclaredMethods();
                c.getDeclaredConstructors();
                return FilterResult.included("links");
            } catch (LinkageError | ClassNotFoundException e) {
                lines.println("NOT-LOADED " + className + " (left out of the scan): " + e);
                return FilterResult.excluded(e.toString());
            }
        }
    }

    /** One line per test when it ends; containers only when they did not succeed (their tests never ran). */
    private static final class LineListener implements TestExecutionListener {
        private final Lines lines;
        private final Map<String, Long> started = new ConcurrentHashMap<>();
        private TestPlan plan;

        LineListener(Lines lines) {
            this.lines = lines;
        }

        @Override
        public void testPlanExecutionStarted(TestPlan testPlan) {
            plan = testPlan;
        }

        @Override
        public void executionStarted(TestIdentifier id) {
            started.put(id.getUniqueId(), System.nanoTime());
        }

        @Override
        public void executionSkipped(TestIdentifier id, String reason) {
            lines.println("SKIPPED " + name(id) + ": " + reason);
        }

        @Override
        public void executionFinished(TestIdentifier id, TestExecutionResult result) {
            if (id.isContainer() && result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) {
                return;
            }
            Long t0 = started.remove(id.getUniqueId());
            String took = t0 == null ? "" : String.format(" (%.2f s)", (System.nanoTime() - t0) / 1e9);
            String what = id.isContainer() ? " [container]" : "";
            Optional<Throwable> cause = result.getThrowable();
            switch (result.getStatus()) {
                case SUCCESSFUL -> lines.println("PASSED " + name(id) + took);
                case ABORTED -> lines.println("ABORTED " + name(id) + what + took + ": " + message(cause));
                case FAILED -> {
                    lines.println("FAILED " + name(id) + what + took + ": " + message(cause));
                    cause.ifPresent(t -> {
                        StringWriter trace = new StringWriter();
                        t.printStackTrace(new PrintWriter(trace));
                        trace.toString().lines().skip(1).limit(40).forEach(l -> lines.println("    " + l.strip()));
                    });
                }
            }
        }

        /** {@code Class > method() > [2] invocation}: the display names from the test class down. */
        private String name(TestIdentifier id) {
            List<String> parts = new ArrayList<>();
            for (TestIdentifier at = id; at != null; at = plan.getParent(at).orElse(null)) {
                var source = at.getSource().orElse(null);
                if (source instanceof ClassSource cs) {
                    parts.addFirst(cs.getClassName());
                    break;
                }
                parts.addFirst(source instanceof MethodSource ms ? ms.getMethodName() + "()" : at.getDisplayName());
                if (source instanceof MethodSource ms && !at.getDisplayName().startsWith(ms.getMethodName())) {
                    parts.set(0, parts.getFirst() + " \"" + at.getDisplayName() + "\"");
                }
            }
            return String.join(" > ", parts);
        }

        private static String message(Optional<Throwable> cause) {
            return cause.map(t -> {
                        String m = t.getMessage();
                        String first = m == null ? "" : m.lines().findFirst().orElse("");
                        return t.getClass().getSimpleName() + (first.isEmpty() ? "" : ": " + first);
                    })
                    .orElse("(no cause)");
        }
    }
}
