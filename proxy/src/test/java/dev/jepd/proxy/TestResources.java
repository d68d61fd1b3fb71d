package dev.jepd.proxy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * What a proxy test opened (stub nodes, proxies, clients), closed after each test in reverse order. Register it
 * with {@code @RegisterExtension final TestResources open = new TestResources();}.
 */
final class TestResources implements AfterEachCallback {
    private final List<AutoCloseable> open = new ArrayList<>();

    /** Closes {@code c} after the test; returns it. */
    <T extends AutoCloseable> T add(T c) {
        open.add(c);
        return c;
    }

    /** A stub node, closed after the test. */
    StubNode stub() throws Exception {
        return add(new StubNode());
    }

    /** A proxy on {@code config}, closed after the test. */
    ProxyHarness proxy(ProxyConfig config) {
        return add(new ProxyHarness(config));
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        List<AutoCloseable> all = open.reversed();
        open.clear();
        for (AutoCloseable c : all) {
            c.close();
        }
    }
}
