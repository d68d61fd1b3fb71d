package dev.jepd.tensor;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Where a forward pass spends its time, op by op: with {@code -Djepd.ops.profile=true} a backend hands out its
 * {@link Ops} through {@link #wrap}, which adds each outermost call's wall time to its op's total ({@code linear}
 * per operand shapes). On the CPU every op returns when done, so the times are the ops' own; on an accelerator
 * they would be launch times. For diagnosis ({@code jepd bench model} logs the table per phase), never on by
 * default: the proxy costs a reflective call per op.
 */
public final class OpsProfile {
    /** Whether backends wrap their ops: {@code -Djepd.ops.profile=true}. */
    public static final boolean ON = Boolean.getBoolean("jepd.ops.profile");

    private static final Map<String, LongAdder[]> TOTALS = new ConcurrentHashMap<>();
    private static final ThreadLocal<int[]> DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    private OpsProfile() {}

    /** {@code ops} itself when profiling is off, else a proxy that times every call made from outside it. */
    public static Ops wrap(Ops ops) {
        if (!ON) {
            return ops;
        }
        return (Ops) Proxy.newProxyInstance(Ops.class.getClassLoader(), new Class<?>[] {Ops.class}, (p, m, args) -> {
            int[] depth = DEPTH.get();
            long t0 = System.nanoTime();
            depth[0]++;
            try {
                return m.invoke(ops, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            } finally {
                if (--depth[0] == 0) { // a default method calling other ops counts once, as itself
                    LongAdder[] c = TOTALS.computeIfAbsent(
                            key(m, args), k -> new LongAdder[] {new LongAdder(), new LongAdder()});
                    c[0].add(System.nanoTime() - t0);
                    c[1].increment();
                }
            }
        });
    }

    private static String key(Method m, Object[] args) {
        String name = m.getName();
        if (name.startsWith("linear")
                && args != null
                && args.length > 1
                && args[0] instanceof Tensor x
                && args[1] instanceof Tensor w) {
            return name + " " + Arrays.toString(x.shape()) + " · " + Arrays.toString(w.shape()) + "ᵀ";
        }
        return name;
    }

    /** Forgets every total. */
    public static void reset() {
        TOTALS.clear();
    }

    /** One line per op, the largest total first: milliseconds, calls, share of all. */
    public static String report() {
        List<Map.Entry<String, LongAdder[]>> rows = new ArrayList<>(TOTALS.entrySet());
        rows.sort((a, b) -> Long.compare(b.getValue()[0].sum(), a.getValue()[0].sum()));
        double all = rows.stream().mapToLong(e -> e.getValue()[0].sum()).sum();
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, LongAdder[]> e : rows) {
            long ns = e.getValue()[0].sum();
            sb.append(String.format(
                    "  %-64s %10.2f ms %7d calls %5.1f%%%n",
                    e.getKey(), ns / 1e6, e.getValue()[1].sum(), 100 * ns / all));
        }
        sb.append(String.format("  %-64s %10.2f ms%n", "all", all / 1e6));
        return sb.toString();
    }
}
