package dev.jepd.ffi.nixl;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs everywhere: how an absent or wrong library is reported. */
class NixlLibraryTest {
    @Test
    void aMissingFileIsAbsentWithTheReason() {
        NixlLibrary.Located l = NixlLibrary.locate("/nonexistent/libnixl_capi.so", null);
        assertNull(l.library());
        assertTrue(l.absentReason().contains("/nonexistent/libnixl_capi.so (no such file)"), l.absentReason());
    }

    @Test
    void aPrefixIsSearchedInItsLibDirectoriesThenTheLinkerPath(@TempDir Path prefix) {
        NixlLibrary.Located l = NixlLibrary.locate(null, prefix.toString());
        if (l.library() != null) {
            return; // installed on the linker's path here: nothing absent to report
        }
        String why = l.absentReason();
        assertTrue(why.contains(prefix.resolve("lib64/libnixl_capi.so") + " (no such file)"), why);
        assertTrue(why.contains(prefix.resolve("lib/libnixl_capi.so") + " (no such file)"), why);
        assertTrue(why.contains("libnixl_capi.so (not on the linker's path)"), why);
    }

    @Test
    void aLibraryWithoutTheCApiIsNotTakenForNixl(@TempDir Path dir) throws Exception {
        Path libm = Path.of("/lib/x86_64-linux-gnu/libm.so.6");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(libm), "needs glibc's libm at " + libm);
        NixlLibrary.Located l = NixlLibrary.locate(libm.toString(), null);
        assertNull(l.library());
        assertTrue(l.absentReason().contains("lacks nixl_capi_create_configured_agent"), l.absentReason());
    }

    @Test
    void requireNamesTheLibraryAndHowToProvideIt() {
        if (NixlLibrary.find().isPresent()) {
            return; // installed: require() succeeds, tested by NixlAgentTest
        }
        var e = org.junit.jupiter.api.Assertions.assertThrows(
                dev.jepd.ffi.NativeLibraryMissingException.class, NixlLibrary::require);
        assertTrue(e.getMessage().contains("libnixl_capi.so not found"), e.getMessage());
        assertTrue(e.getMessage().contains("JEPD_NIXL_LIBRARY"), e.getMessage());
    }
}
