/**
 * The narrow tensor SPI every model is written against: {@link dev.jepd.tensor.Tensor}, the ops of
 * a {@link dev.jepd.tensor.TensorBackend}, and {@link dev.jepd.tensor.TensorScope}, which owns
 * native memory. Op results land in the calling thread's innermost open scope and die with it unless
 * {@link dev.jepd.tensor.TensorScope#keep} hands them to the parent. Backends live in sub-packages
 * ({@code djl}); no backend type appears outside its package, so a second backend (CUDA through Panama,
 * JavaCPP) replaces one class, not the models.
 */
package dev.jepd.tensor;
