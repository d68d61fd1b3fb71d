package dev.jepd.models.golden;

import java.nio.file.Path;

/** Where the golden tiny checkpoint lives for tests. */
final class GoldenModel {
    private GoldenModel() {}

    static Path dir() {
        // TODO(jepd): replace with the deterministic writer once it lands (tests must not need ../shared).
        return Path.of(System.getProperty("jepd.golden.model", "/work/shared/golden/tiny-qwen2.5-vl"));
    }
}
