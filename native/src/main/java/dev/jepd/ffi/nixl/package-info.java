/**
 * NIXL (NVIDIA's inference transfer library) through its C API, {@code libnixl_capi}: an agent with backends
 * (UCX), registered host memory, metadata exchange, one-sided reads and notifications. Loaded only where the
 * library is installed; elsewhere {@link dev.jepd.ffi.nixl.NixlLibrary#find()} is empty and says why.
 */
package dev.jepd.ffi.nixl;
