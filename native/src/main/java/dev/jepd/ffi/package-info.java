/**
 * Panama FFM bindings written by hand for the native libraries JEPD talks to (NIXL, CUDA, Level Zero).
 * A library that is absent is a {@link dev.jepd.ffi.NativeLibraryMissingException}, never a crash.
 */
package dev.jepd.ffi;
