/**
 * The reference tensor backend: float32 (and int64 index) tensors in plain Java, each op written out as
 * loops over flat indices with double accumulation, so that it is obviously correct rather than fast. It
 * is the oracle of the ops-parity suite every other backend runs against, and it keeps each tensor in a
 * native little-endian segment, so {@link dev.jepd.tensor.TensorBackend#registrable} has something to
 * return. Scopes only track validity: using a tensor after its scope closed is an
 * {@link java.lang.IllegalStateException}, the memory itself is reclaimed by the garbage collector.
 */
package dev.jepd.tensor.ref;
