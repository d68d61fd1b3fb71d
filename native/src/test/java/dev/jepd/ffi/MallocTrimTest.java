package dev.jepd.ffi;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** glibc's {@code malloc_trim} is found through java.lang.foreign here and can be called. */
class MallocTrimTest {
    @Test
    void mallocTrimIsFoundAndCallable() {
        assertTrue(MallocTrim.available(), "malloc_trim not found (not glibc?)");
        MallocTrim.trim();
        MallocTrim.gcAndTrim();
    }
}
