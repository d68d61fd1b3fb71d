package dev.jepd.ffi;

import java.util.List;

/** A native library (for example {@code libnixl_capi}) that is not installed on this machine. */
public final class NativeLibraryMissingException extends RuntimeException {
    public NativeLibraryMissingException(String library, String purpose) {
        super("native library " + library + " not found (needed for " + purpose + "); install it or pick a"
                + " transport that does not need it");
    }

    /** With the places that were tried, so the reader knows where to put it or which variable to set. */
    public NativeLibraryMissingException(String library, String purpose, List<String> tried, String hint) {
        super("native library " + library + " not found (needed for " + purpose + "); tried " + String.join(", ", tried)
                + ". " + hint);
    }
}
