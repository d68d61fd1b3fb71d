package dev.jepd.ffi;

/** A native library (for example {@code libnixl_capi}) that is not installed on this machine. */
public final class NativeLibraryMissingException extends RuntimeException {
    public NativeLibraryMissingException(String library, String purpose) {
        super("native library " + library + " not found (needed for " + purpose + "); install it or pick a"
                + " transport that does not need it");
    }
}
