/**
 * The narrow tensor SPI every model is written against: {@link dev.jepd.tensor.Tensor}, the
 * {@link dev.jepd.tensor.Ops} of a {@link dev.jepd.tensor.TensorBackend}, and
 * {@link dev.jepd.tensor.Scope}, which owns native memory. Scopes are explicit values, never a
 * thread's hidden "current": {@code backend.ops(scope)} gives ops whose results belong to {@code scope}
 * and die with it unless {@link dev.jepd.tensor.Scope#keep} hands them to the parent. Backends live in
 * their own modules ({@code tensor-ref}, {@code tensor-torch}); no backend type appears outside its
 * module, so a second backend replaces one class, not the models.
 */
package dev.jepd.tensor;
