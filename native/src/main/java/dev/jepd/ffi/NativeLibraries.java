package dev.jepd.ffi;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.util.Optional;

/** Looks native libraries up by their soname, the way the dynamic linker would. */
public final class NativeLibraries {
    private NativeLibraries() {}

    /** The library's symbols, or empty when the linker cannot find it. */
    public static Optional<SymbolLookup> find(String soname) {
        try {
            // A global arena: a loaded library stays loaded for the life of the process.
            return Optional.of(SymbolLookup.libraryLookup(soname, Arena.global()));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** The library's symbols, or a typed error naming what it was for. */
    public static SymbolLookup require(String soname, String purpose) {
        return find(soname).orElseThrow(() -> new NativeLibraryMissingException(soname, purpose));
    }
}
