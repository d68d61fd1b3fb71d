/**
 * The NIXL KV transport: the prefill node stages held blocks in one NIXL-registered buffer, the decode node reads
 * them with a one-sided NIXL read after a handshake over JEPD's side channel, and confirms with a NIXL
 * notification. Used only where {@code libnixl_capi} is installed.
 */
package dev.jepd.transfer.nixl;
